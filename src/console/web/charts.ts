import { html, type Html } from '../../shared/html.js';

/**
 * Charts as inline SVG drawn on the server: no script, no second request, and they scale with their box (a
 * viewBox and no fixed width), so a 360 px phone shows them whole.
 */

const round = (n: number): number => Math.round(n * 10) / 10;

/** Green while there is room, amber past 80 %, red at the quota. */
function fillFor(fraction: number): string {
  return fraction >= 1 ? '#c0362c' : fraction >= 0.8 ? '#d98a00' : '#2f8f4e';
}

/** A half-circle gauge of `value` against `max`, with the numbers in its middle. */
export function gauge(value: number, max: number, label: string): Html {
  const fraction = max > 0 ? Math.min(1, value / max) : 1;
  const r = 80;
  const cx = 100;
  const cy = 100;
  const end = { x: round(cx - r * Math.cos(Math.PI * fraction)), y: round(cy - r * Math.sin(Math.PI * fraction)) };
  const percent = max > 0 ? Math.round((value / max) * 100) : 100;
  return html`<svg class="gauge" viewBox="0 0 200 118" role="img" aria-label="${label}">
<path d="M 20 100 A 80 80 0 0 1 180 100" fill="none" stroke="#e4e7ed" stroke-width="16" stroke-linecap="round"/>
${fraction > 0 ? html`<path d="M 20 100 A 80 80 0 0 1 ${end.x} ${end.y}" fill="none" stroke="${fillFor(fraction)}" stroke-width="16" stroke-linecap="round"/>` : ''}
<text x="100" y="82" text-anchor="middle" font-size="26" font-weight="700" fill="#1d2330">${value}</text>
<text x="100" y="104" text-anchor="middle" font-size="13" fill="#5b6478">of ${max} · ${percent}%</text>
</svg>`;
}

const hhmm = (at: number): string => new Date(at).toISOString().slice(11, 16);

/** A bar per slice (an hour each for the 24-hour window), the newest on the right; each bar's title gives its count. */
export function sliceBars(slices: readonly { start: number; units: number }[], sliceMs: number, label: string): Html {
  // Drawn about the size a phone shows it, so its labels stay readable there; wider screens scale it up.
  const width = 320;
  const height = 132;
  const top = 12;
  const bottom = 110;
  const left = 28;
  const slot = (width - left - 2) / Math.max(1, slices.length);
  const peak = Math.max(1, ...slices.map((s) => s.units));
  const scale = (bottom - top) / peak;
  const bars = slices.map((s, i) => {
    const h = round(s.units * scale);
    const x = round(left + i * slot + 1);
    return html`<rect x="${x}" y="${round(bottom - h)}" width="${round(slot - 2)}" height="${Math.max(h, s.units > 0 ? 1 : 0)}" fill="#1b5fbf"><title>${hhmm(s.start)}–${hhmm(s.start + sliceMs)} UTC: ${s.units}</title></rect>`;
  });
  // A time label every 6 slices, and "now" at the right edge.
  const ticks = slices
    .map((s, i) => (i % 6 === 0 ? html`<text x="${round(left + i * slot + 2)}" y="${bottom + 14}" font-size="10" fill="#5b6478">${hhmm(s.start)}</text>` : null))
    .filter((t) => t !== null);
  return html`<svg class="bars" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}">
<line x1="${left}" y1="${bottom}" x2="${width - 2}" y2="${bottom}" stroke="#c4cad6"/>
<line x1="${left}" y1="${top}" x2="${width - 2}" y2="${top}" stroke="#eef0f4"/>
<text x="${left - 6}" y="${top + 4}" font-size="10" text-anchor="end" fill="#5b6478">${peak}</text>
<text x="${left - 6}" y="${bottom}" font-size="10" text-anchor="end" fill="#5b6478">0</text>
${bars}
${ticks}
<text x="${width - 2}" y="${bottom + 14}" font-size="10" text-anchor="end" fill="#5b6478">now</text>
</svg>`;
}
