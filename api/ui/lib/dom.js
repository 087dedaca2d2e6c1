// A tiny DOM builder. Text always goes in as text nodes, never as HTML, so nothing a person
// typed (a patient name, a title) can become markup.

/**
 * h('button', {class: 'primary', onclick: fn, 'aria-label': '…'}, 'text', childNode, …)
 * Attributes whose value is false, null or undefined are left out; `true` sets an empty one.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (name === 'value' || name === 'checked' || name === 'muted') {
      // Properties: their attributes only set the starting value, or none once built.
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace everything inside `element` with `children`. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** An inline SVG icon from the sprite-free set below, hidden from screen readers. */
export function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon', `icon-${name}`);
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

const ICONS = {
  // A video camera.
  video: 'M3 6.5A1.5 1.5 0 0 1 4.5 5h10A1.5 1.5 0 0 1 16 6.5v2.4l4.2-2.6A.5.5 0 0 1 21 6.7v10.6a.5.5 0 0 1-.8.4L16 15.1v2.4a1.5 1.5 0 0 1-1.5 1.5h-10A1.5 1.5 0 0 1 3 17.5z',
  // A person: head and shoulders.
  person: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-4.4 0-8 2.2-8 5v1h16v-1c0-2.8-3.6-5-8-5z',
};

/**
 * Run `rebuild` (which replaces elements), then give the focus back to the element with the
 * same `data-focus-key` if the focus was on one: a live refresh must not drop a keyboard user.
 */
export function keepingFocus(rebuild) {
  const key = document.activeElement?.dataset?.focusKey;
  rebuild();
  if (key) focusByKey(key);
}

/** Focus the element with this `data-focus-key`, if it is on the page. */
export function focusByKey(key) {
  document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`)?.focus();
}
