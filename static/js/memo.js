/** `memo(Component)`: skip re-rendering while props are shallowly equal (the vendored Preact has no memo). */
import { h } from "/static/vendor/htm/standalone.module.js";

/** Same keys, and each value identical (`Object.is`). */
export function shallowEqual(a, b) {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.is(a[key], b[key]));
}

/** A component that renders `component` only when its props changed (as preact/compat's memo). */
export function memo(component, equal = shallowEqual) {
  function Memoized(props) {
    // `this` is the component instance; `this.props` are the previous props when this runs.
    this.shouldComponentUpdate = (next) => !equal(this.props, next);
    return h(component, props);
  }
  Memoized.displayName = `Memo(${component.displayName || component.name})`;
  return Memoized;
}
