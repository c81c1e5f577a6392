/**
 * Wall mode's board: the largest tiles with which every device fits the box, however many match.
 * Pure: group sizes and the box's size go in, a grid (columns, tile size, font, level of detail)
 * comes out. Each group gets one label cell in front of its tiles.
 */
import { MIN_CHARS } from "./abbreviate.js";

// Levels of detail, the most first (tileDetail).
const LEVELS = ["full", "medium", "compact", "name", "bare", "blank"];
// The gap between the smallest tiles, when the default leaves them too little room (px).
const TIGHT_GAP = 2;

const DEFAULTS = {
  gap: 4, // px between tiles
  aspect: 0.5, // preferred tile height / width
  maxAspect: 0.8, // never taller than this (spare height is left unused instead)
  labelCells: 1, // cells each group's label takes
};

/**
 * Rows needed with `columns` columns: "rows" flow starts each group on a new row (easier to read);
 * "continuous" flow packs groups one after another (fits more when groups are many and small).
 */
function rowsNeeded(groups, columns, flow, labelCells) {
  if (flow === "continuous") {
    // As the grid places them (no dense packing): a label of two cells cannot start in a row's
    // last column, so it starts the next row, leaving a hole (an audit: counted as if packed, the
    // last row of an 800x480 wall's board was off the screen).
    let cell = 0;
    for (const n of groups) {
      const column = cell % columns;
      if (column > columns - labelCells) cell += columns - column;
      cell += labelCells + n;
    }
    return Math.ceil(cell / columns);
  }
  return groups.reduce((sum, n) => sum + Math.ceil((n + labelCells) / columns), 0);
}

function best(groups, width, height, flow, o) {
  const cells = groups.reduce((sum, n) => sum + n + o.labelCells, 0);
  let choice = null;
  for (let columns = o.labelCells; columns <= cells; columns += 1) {  // (a label's cells fit a row)
    const tileWidth = (width - (columns - 1) * o.gap) / columns;
    if (tileWidth < 1) break;
    const rows = rowsNeeded(groups, columns, flow, o.labelCells);
    const rowHeight = (height - (rows - 1) * o.gap) / rows;
    if (rowHeight < 1) continue;
    // How big a tile of the preferred shape could be: what legibility depends on.
    const scale = Math.min(tileWidth, rowHeight / o.aspect);
    if (!choice || scale > choice.scale) {
      choice = { flow, columns, rows, scale, tileWidth, tileHeight: Math.min(rowHeight, tileWidth * o.maxAspect) };
    }
  }
  return choice;
}

/**
 * `groups`: the number of devices in each group, in order; `width`, `height`: the box in px.
 * Returns `{flow, columns, rows, tileWidth, tileHeight, gap, detail, fontPx, chars}` or null
 * when there is nothing to place or no room.
 */
export function fitTiles(groups, width, height, options = {}) {
  const o = { ...DEFAULTS, ...options };
  const sizes = groups.filter((n) => n > 0);
  if (sizes.length === 0 || width <= 0 || height <= 0) return null;
  const layout = (gap) => {
    const rows = best(sizes, width, height, "rows", { ...o, gap });
    const continuous = best(sizes, width, height, "continuous", { ...o, gap });
    // Starting each group on its own row reads better; accept slightly smaller tiles for it.
    const pick = rows && (!continuous || rows.scale >= continuous.scale * 0.85) ? rows : continuous;
    return pick && { ...pick, gap, labelCells: o.labelCells, ...tileDetail(pick.tileWidth, pick.tileHeight, o.comfortable) };
  };
  const wide = layout(o.gap);
  if (wide && LEVELS.indexOf(wide.detail) <= LEVELS.indexOf("compact")) return wide;
  // Tiles too small for a compact tile's three characters and symbol: narrower gaps give them the
  // room, when that names more of them (a hostname or a symbol more is worth 2 px of gap); and
  // with no room at all for gaps, none (every device stays on the board, a dot of colour).
  const tight = o.gap > TIGHT_GAP ? layout(TIGHT_GAP) : null;
  const better = tight && (!wide || LEVELS.indexOf(tight.detail) < LEVELS.indexOf(wide.detail)) ? tight : wide;
  return better || (o.gap > 0 ? layout(0) : null);
}

// A bold proportional font averages ~0.62 em per letter, but digits (DejaVu Sans Bold: 0.70 em)
// fill most hostnames' ends: 0.68 em a letter, so that "qemu-100" is never cut by a pixel at 4K
// (some hostnames are shortened a character sooner). A group label's bold name is measured alike.
const LETTER = 0.68;

// The smallest type a tile gets, and what a tile in it needs beside its hostname's letters (em): a
// compact tile's left border, padding, gap and symbol (measured: 1.85 em in Chromium), or without
// the symbol its border and a little padding (dashboard.css: 0.5 em); and its height, a line and its padding.
const MIN_FONT = 7;
const BESIDE_SYMBOL = 2.0;
const BESIDE_NAME = 0.6;
const LINE_HEIGHT = 1.35;
const DIGIT = 0.7;
const BORDER_PX = 1;

/**
 * A tile too small for a compact tile's three characters and symbol in type of MIN_FONT px: the
 * hostname alone ("name", in type as large as its three characters allow) when that fits, else no
 * hostname at all rather than one or two misleading characters: the health's or state's symbol
 * alone ("bare") or, smaller still, the colour alone ("blank"; the board then says why in words).
 */
function smallest(width, height) {
  // Three digits (the widest letters, 0.70 em) and the tile's 1 px right border.
  const letters = MIN_CHARS * DIGIT;
  const room = width - BORDER_PX;
  const charsAt = (font, beside) => Math.floor(Math.max(0, room - font * beside) / (font * LETTER));
  const nameEm = (font, beside) => Math.max(0, room - font * beside) / font;
  if (height >= MIN_FONT * LINE_HEIGHT) {
    if (room >= MIN_FONT * (BESIDE_SYMBOL + letters)) {
      return { detail: "compact", fontPx: MIN_FONT, chars: charsAt(MIN_FONT, BESIDE_SYMBOL),
        nameEm: nameEm(MIN_FONT, BESIDE_SYMBOL) };
    }
    const size = Math.floor(Math.min(height / LINE_HEIGHT, room / (BESIDE_NAME + letters)) * 10) / 10;
    if (size >= MIN_FONT) {
      return { detail: "name", fontPx: size, chars: charsAt(size, BESIDE_NAME), nameEm: nameEm(size, BESIDE_NAME) };
    }
  }
  // A symbol needs about 0.8 em of width beside the border and padding, and a line's height.
  const symbol = room >= MIN_FONT * (BESIDE_NAME + 0.8) && height >= MIN_FONT * 1.2;
  return { detail: symbol ? "bare" : "blank", fontPx: MIN_FONT, chars: 0, nameEm: 0 };
}

/** Whether tiles of this level of detail show no hostname (the board then says so in words). */
export const unnamed = (detail) => detail === "bare" || detail === "blank";

/** Whether a level has no status line (a symbol at most): "compact" and smaller. */
export const statusless = (detail) => LEVELS.indexOf(detail) >= LEVELS.indexOf("compact");

/**
 * What a tile of this size can show, and in which font size: "full" (hostname, state and health,
 * job and times), "medium" (hostname, state and health) or "compact" (hostname and one symbol);
 * on the smallest tiles "name" (the hostname alone), "bare" (a symbol alone) or "blank" (see
 * `smallest`). `chars` is how many characters of hostname fit on a line (0: none shown), counted
 * at LETTER em each (the widest, digits); `nameEm`, the line's room in em, against which a group's
 * names can be measured (textwidth.js: "rpi4b-01" fits where 8 digits would not).
 */
export function tileDetail(width, height, comfortable = 0) {
  // [level, font size it allows, smallest acceptable font, room taken beside the hostname in em]
  // (left border and padding; a compact tile also holds its symbol). A compact font leaves
  // room for at least three characters: "07" or "1" tell too little apart.
  const levels = [
    ["full", Math.min(height / 4.6, width / 11.5, 64), 12, 1.3],
    ["medium", Math.min(height / 3.0, width / 6.5, 72), 11, 1.3],
    // (width / 4.5: with 2.4 em beside and LETTER, 0.68 em, a letter: (4.5 - 2.4) / 0.68 ≥ 3 letters.)
    ["compact", Math.min(height / 1.5, width / 4.5, 72), 0, 2.4],
  ];
  for (const [index, [detail, size, minimum, beside]] of levels.entries()) {
    // Legibility first: more detail only in type at least 3/4 of the next level's, or in type
    // that is `comfortable` already (a 4K wall has room for large type with fewer words).
    const next = levels[index + 1];
    // (Between medium and compact the words win: a state word reads better than a larger symbol.)
    const enough = detail !== "full" || !next || size >= Math.min(0.75 * next[1], comfortable || Infinity);
    if (size >= minimum && enough) {
      // Type at its floor: what is left beside may be too little for three characters.
      if (size < MIN_FONT) return smallest(width, height);
      const fontPx = Math.floor(size * 10) / 10;
      // What the room beside leaves of the width, in letters of LETTER em.
      const chars = Math.max(MIN_CHARS, Math.floor(Math.max(0, width - fontPx * beside) / (fontPx * LETTER)));
      // `nameEm`: the hostname's room in em of its type, for names measured whole (DeviceGroup).
      return { detail, fontPx, chars, nameEm: Math.max(0, width - fontPx * beside) / fontPx };
    }
  }
  return smallest(width, height);
}

// A group label's type: 0.85 of the tiles' (dashboard.css, `.is-fit .device-group-title`), 1.15 a
// line, 0.3 em of padding each side; a letter of a bold name at most LETTER em (as the tiles').
const LABEL_SCALE = 0.85;
const LABEL_LINE = 1.15;
const LABEL_PAD = 0.6;

/**
 * Lines `text` takes in a box `width` px wide in type of `font` px: words wrap at spaces, a word
 * longer than a line anywhere (hostnames and device types have no spaces).
 */
function labelLines(text, width, font) {
  const per = Math.max(1, Math.floor(width / (font * LETTER)));
  let lines = 0;
  let used = 0;
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    if (lines > 0 && used + 1 + word.length <= per) {
      used += 1 + word.length;
    } else {
      lines += Math.ceil(word.length / per);
      used = word.length % per || per;
    }
  }
  return lines;
}

/** A group label cell of `layout` (from fitTiles): its text box `{width, font, lines}` in px and lines. */
export function labelRoom(layout) {
  if (!layout) return null;
  const cells = layout.labelCells || 1;
  const font = layout.fontPx * LABEL_SCALE;
  return {
    width: cells * layout.tileWidth + (cells - 1) * layout.gap - LABEL_PAD * font,
    font,
    lines: Math.max(1, Math.floor(layout.tileHeight / (font * LABEL_LINE))),
  };
}

/**
 * Whether `note` fits whole under `name` in a label cell (`room` from labelRoom), in type of at
 * least `minFont` px: a wall leaves the note out rather than cut it, shrink it or lay it over tiles.
 */
export function noteFits(name, note, room, minFont = 12) {
  if (!room) return true;
  return room.font >= minFont && labelLines(name, room.width, room.font) + labelLines(note, room.width, room.font) <= room.lines;
}

