/** The subscription filter sent with every `subscribe`: built here and nowhere else. */

/** Keys the server understands; each value is a list of strings, empty or missing = everything. */
export const FILTER_KEYS = ["kinds", "device_types", "devices", "workers", "submitters", "health"];

/** The filter for this page. The first live view shows everything; a later version reads the URL. */
export function subscriptionFilter() {
  return {};
}
