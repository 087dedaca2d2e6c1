// Labelled form fields whose errors appear next to them (and are announced).

import { h, fill } from './dom.js';
import { describe } from './messages.js';

let serial = 0;

/**
 * A labelled field: `{label, name, control, hint, required}` where `control` is the input,
 * select or group element. The control gets `name`, an id and `aria-describedby`.
 */
export function field({ label, name, control, hint, required = false }) {
  serial += 1;
  const id = `f${serial}-${name}`;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  control.id = id;
  control.name ||= name;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  if (required) control.required = true;
  return h('div', { class: 'field', dataset: { field: name } },
    h('label', { for: id }, label, required ? h('span', { class: 'required' }, '必須') : null),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite' }));
}

/** A group of radio buttons with a legend: `options` is `[[value, label], …]`. */
export function radios({ legend, name, options, value }) {
  return choices('radio', { legend, name, options, chosen: [value] });
}

/** A group of checkboxes with a legend: `options` is `[[value, label], …]`, `values` the checked ones. */
export function checkboxes({ legend, name, options, values }) {
  return choices('checkbox', { legend, name, options, chosen: values });
}

function choices(type, { legend, name, options, chosen }) {
  serial += 1;
  const errorId = `f${serial}-${name}-error`;
  return h('fieldset', { class: 'field radios', dataset: { field: name }, 'aria-describedby': errorId },
    h('legend', {}, legend),
    options.map(([v, text]) => {
      const id = `f${serial}-${name}-${v}`;
      return h('span', { class: 'radio' },
        h('input', { type, id, name, value: v, checked: chosen.includes(v) }),
        h('label', { for: id }, text));
    }),
    h('p', { class: 'field-error', id: errorId, 'aria-live': 'polite' }));
}

/** Show `message` under the field named `name` in `form`; false if the form has no such field. */
export function setFieldError(form, name, message) {
  const wrapper = form.querySelector(`[data-field="${name}"]`);
  if (!wrapper) return false;
  fill(wrapper.querySelector('.field-error'), message || '');
  const control = wrapper.querySelector('input, select, textarea');
  if (control) control.setAttribute('aria-invalid', message ? 'true' : 'false');
  return true;
}

/** Clear every error in the form. */
export function clearErrors(form) {
  for (const wrapper of form.querySelectorAll('[data-field]')) setFieldError(form, wrapper.dataset.field, '');
  const general = form.querySelector('.form-error');
  if (general) fill(general, '');
}

/** Put an API problem next to its field, or at the top of the form when it names none. */
export function showProblem(form, problem) {
  const message = describe(problem);
  if (problem.field && setFieldError(form, problem.field, message)) {
    form.querySelector(`[data-field="${problem.field}"] input, [data-field="${problem.field}"] select, [data-field="${problem.field}"] textarea`)?.focus();
    return;
  }
  const general = form.querySelector('.form-error');
  if (general) fill(general, message);
}

/** The element forms use for errors that belong to no single field. */
export const formError = () => h('p', { class: 'form-error', role: 'alert' });
