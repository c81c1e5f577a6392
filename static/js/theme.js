/**
 * Theme and wall mode live on <html> as data- attributes, so that the stylesheet alone decides how
 * they look. The server renders the first values into the page from the same query string
 * (templates/index.html), so a wall display never flashes light before going dark.
 */
import { effectiveTheme } from "./url.js";

export function applyTheme(options) {
  const root = document.documentElement;
  const theme = effectiveTheme(options);
  if (root.dataset.theme !== theme) root.dataset.theme = theme;
  const wall = options.wall ? "true" : "false";
  if (root.dataset.wall !== wall) root.dataset.wall = wall;
  const meta = document.querySelector('meta[name="color-scheme"]');
  const scheme = theme === "auto" ? "light dark" : theme;
  if (meta && meta.content !== scheme) meta.content = scheme;
  const palette = document.getElementById("dark-palette");
  const media = DARK_PALETTE_MEDIA[theme];
  if (palette && palette.media !== media) palette.media = media;
}

/** When static/css/dark.css applies, per theme (templates/index.html writes the first value). */
const DARK_PALETTE_MEDIA = { dark: "all", auto: "(prefers-color-scheme: dark)", light: "not all" };
