/**
 * Label selector semantics (metav1.LabelSelector), as the API server applies them:
 * - every matchLabels pair must be present with that value, and every expression must hold (AND);
 * - In: the key is present and its value is listed; NotIn: the key is absent or its value is not
 *   listed; Exists: the key is present; DoesNotExist: the key is absent;
 * - the empty selector `{}` (no pairs, no expressions) selects everything.
 * An absent (nil) selector is not handled here: its meaning depends on the field (a nil
 * namespaceSelector in a peer means "the policy's namespace", a nil podSelector means "all pods").
 */
import type { LabelSelector } from './model.js';

export type Labels = Readonly<Record<string, string>>;

export function matchSelector(sel: LabelSelector, l: Labels): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (!Object.hasOwn(l, k) || l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const val = has ? l[e.key]! : undefined;
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(val!)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(val!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export function isEmptySelector(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}
