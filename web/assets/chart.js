// Small line charts drawn as inline SVG (no library, no build step), each
// with a table of the same figures in a <details> below it for screen
// readers and anyone who wants the numbers. Colours and sizes come from
// classes in style.css (the CSP allows no inline styles).
//
//   const chart = lineChart(figure, { title: "Viewers", unit: "viewers", digits: 0 });
//   chart.update([{ t: Date, v: Number }, …]);

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 200;
const PAD = { left: 56, right: 16, top: 14, bottom: 32 };
// Rows the table keeps (the newest): the chart shows them all.
const TABLE_ROWS = 60;

function svg(name, attrs = {}, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

// 1, 2 or 5 times a power of ten, at least max/4: four gridlines.
function niceStep(max) {
  const raw = Math.max(max, 1e-9) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
}

const clock = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

// Draws into `figure` (emptied): a caption, the SVG and the table. Returns
// { update(points) } to redraw with new points ({ t: Date, v: number }).
export function lineChart(figure, { title, unit, digits = 0, empty = "No data yet." }) {
  const id = `chart-${Math.random().toString(36).slice(2, 10)}`;
  const caption = document.createElement("figcaption");
  caption.id = `${id}-caption`;
  caption.className = "chart-title";
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": caption.id });
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `${title}: table of values`;
  const table = document.createElement("table");
  table.className = "chart-data";
  const head = table.createTHead().insertRow();
  for (const h of ["Time", `${title} (${unit})`]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    head.append(th);
  }
  const body = table.createTBody();
  details.append(summary, table);
  figure.replaceChildren(caption, chart, details);
  figure.classList.add("chart-figure");

  const fmt = (v) => v.toLocaleString([], { maximumFractionDigits: digits, minimumFractionDigits: digits });

  function update(points) {
    const last = points.length ? points[points.length - 1] : null;
    caption.textContent = last ? `${title}: ${fmt(last.v)} ${unit} now` : `${title}: ${empty}`;
    chart.replaceChildren(svg("title", {}, caption.textContent));
    const x0 = PAD.left, x1 = W - PAD.right, y0 = H - PAD.bottom, y1 = PAD.top;
    const max = Math.max(0, ...points.map((p) => p.v));
    const step = niceStep(max || 1);
    const top = Math.max(step * 4, step * Math.ceil(max / step));
    const tmin = points.length ? points[0].t.getTime() : 0;
    const tmax = points.length ? last.t.getTime() : 1;
    const span = Math.max(tmax - tmin, 1);
    const x = (t) => x0 + ((t.getTime() - tmin) / span) * (x1 - x0);
    const y = (v) => y0 - (v / top) * (y0 - y1);
    // Gridlines and the value axis.
    for (let v = 0; v <= top + 1e-9; v += step) {
      chart.append(svg("line", { x1: x0, x2: x1, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "grid" }));
      chart.append(svg("text", { x: x0 - 6, y: y(v) + 4, class: "tick end" }, fmt(v)));
    }
    chart.append(svg("line", { x1: x0, x2: x0, y1: y0, y2: y1, class: "axis" }));
    chart.append(svg("text", { x: 12, y: (y0 + y1) / 2, class: "unit", transform: `rotate(-90 12 ${(y0 + y1) / 2})` }, unit));
    if (points.length) {
      // The time axis: first, middle and last times.
      const ticks = points.length > 2 ? [points[0], points[Math.floor(points.length / 2)], last] : [points[0], last];
      ticks.forEach((p, i) => {
        const anchor = i === 0 ? "start" : i === ticks.length - 1 ? "end" : "middle";
        chart.append(svg("text", { x: x(p.t), y: H - 10, class: `tick ${anchor}` }, clock(p.t)));
      });
      const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
      chart.append(svg("path", { d: `${d}L${x(last.t).toFixed(1)},${y0}L${x0},${y0}Z`, class: "area" }));
      chart.append(svg("path", { d, class: "line" }));
      chart.append(svg("circle", { cx: x(last.t), cy: y(last.v), r: 4, class: "dot" }));
    } else {
      chart.append(svg("text", { x: (x0 + x1) / 2, y: (y0 + y1) / 2, class: "tick middle" }, empty));
    }
    // The table: the newest rows first.
    body.replaceChildren(...points.slice(-TABLE_ROWS).reverse().map((p) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = clock(p.t);
      const td = document.createElement("td");
      td.textContent = fmt(p.v);
      tr.append(th, td);
      return tr;
    }));
  }

  update([]);
  return { update };
}
