// The side panel of the clinic UI, whatever it shows (予約受付 in `booking.js`, an appointment
// in `appointment.js`): opening and closing it, giving the focus back, and which load is the
// newest.

import { fill, focusByKey, h } from './dom.js';

export class SidePanel {
  constructor(element) {
    this.element = element;
    this.showing = null; // {kind: 'booking', slot, choice} or {kind: 'appointment', id, editing}
    this.loads = 0; // bumped by every change of what the panel shows: older loads are dropped
    this.recheck = null;
    this.listeners = [];
    element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) this.close();
    });
  }

  /** Run `listener` whenever the panel opens, closes or shows something else. */
  whenChanged(listener) {
    this.listeners.push(listener);
  }

  /** Forget loads and re-checks under way: what the panel shows is changing. */
  invalidate() {
    this.loads += 1;
    clearTimeout(this.recheck);
    return this.loads;
  }

  /** Run `action` in `ms` unless what the panel shows changes first. */
  later(action, ms) {
    this.recheck = setTimeout(action, ms);
  }

  /**
   * Show `content` under `title`. The heading takes the focus when the person opened or
   * changed the panel (`focus`), never when a live update redraws it.
   */
  open(title, content, { focus = true } = {}) {
    if (this.element.hidden) {
      // Closing gives the focus back to what opened the panel, found again by its key if a
      // live refresh replaced it meanwhile.
      this.opener = document.activeElement;
      this.openerKey = document.activeElement?.dataset?.focusKey ?? null;
    }
    fill(this.element,
      h('div', { class: 'panel-head' },
        h('h2', { id: 'panel-title', tabindex: '-1' }, title),
        h('button', { type: 'button', class: 'close', 'aria-label': 'パネルを閉じる', onclick: () => this.close() }, '×')),
      content);
    this.element.hidden = false;
    document.body.classList.add('panel-open');
    for (const listener of this.listeners) listener();
    if (focus) this.element.querySelector('#panel-title').focus();
  }

  close() {
    this.invalidate();
    this.showing = null;
    this.element.hidden = true;
    document.body.classList.remove('panel-open');
    fill(this.element);
    for (const listener of this.listeners) listener();
    if (this.opener?.isConnected) this.opener.focus();
    else if (this.openerKey) focusByKey(this.openerKey);
    this.opener = null;
    this.openerKey = null;
  }
}
