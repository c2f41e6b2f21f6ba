// amber ui: draws the store's history, a snapshot's components and graph, a
// component's state and the diff between two snapshots, from the JSON the
// server answers on /api/ (apps/ui_api.hpp). Plain JS, no library.
//
// What is shown lives in the URL's fragment, so every view can be linked
// and reloaded: #s=SNAPSHOT&c=COMPONENT&a=FROM&b=TO (each optional; any
// name the command line takes, e.g. s=bank~1). <body data-state> is
// "loading", "ready" or "error" once a view is complete.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';
const STATE_TEXT_LIMIT = 2 * 1024 * 1024; // characters of JSON shown at once
const DIFF_COMPONENTS_SHOWN = 200;
const WIRES_SHOWN = 300;
const GRAPH_INSTANCES_DRAWN = 60; // more: one box per type

// ---------------------------------------------------------------- helpers

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function svgEl(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// "512 B", "1.5 KiB", "12.0 MiB", as the command line prints sizes.
function humanBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n), u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; ++u; }
  const text = u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
  return n < 0 ? `-${text}` : text;
}

const short = id => id.slice(0, 12);

async function api(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const why = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${r.status}`;
    throw new Error(`${path}: ${why}`);
  }
  return body;
}

const seg = s => encodeURIComponent(s);

function readView() {
  const p = new URLSearchParams(location.hash.slice(1));
  return { s: p.get('s'), c: p.get('c'), a: p.get('a'), b: p.get('b') };
}

function goTo(view) {
  const p = new URLSearchParams();
  for (const k of ['s', 'c', 'a', 'b']) if (view[k]) p.set(k, view[k]);
  location.hash = p.toString();
}

function replaceChildren(id, ...children) {
  const node = document.getElementById(id);
  node.replaceChildren(...children.filter(c => c != null));
  return node;
}

// ---------------------------------------------------------------- history

// Rows in the log's order (children before parents, newest first); lanes as
// `git log --graph` assigns them: a snapshot takes the lane that waits for
// it, and hands it on to its first parent.
function layoutHistory(snaps) {
  const present = new Set(snaps.map(s => s.id));
  const lanes = [];
  const freeLane = () => { const f = lanes.indexOf(null); return f < 0 ? lanes.length : f; };
  return snaps.map((s, row) => {
    let lane = lanes.indexOf(s.id);
    if (lane < 0) lane = freeLane();
    for (let k = 0; k < lanes.length; ++k) if (lanes[k] === s.id) lanes[k] = null;
    const parents = s.parents.filter(p => present.has(p));
    lanes[lane] = parents.length ? parents[0] : null;
    for (const p of parents.slice(1)) if (!lanes.includes(p)) lanes[freeLane()] = p;
    return { lane, row };
  });
}

function drawHistory(snaps, selected, compared) {
  if (!snaps.length) return el('p', { class: 'muted', text: 'The store has no snapshots yet.' });
  const pos = layoutHistory(snaps);
  const index = new Map(snaps.map((s, i) => [s.id, i]));
  const dx = 18, dy = 44, r = 6, left = 12, top = 16;
  const lanes = Math.max(...pos.map(p => p.lane)) + 1;
  const textX = left + lanes * dx + 8;
  const at = i => [left + pos[i].lane * dx, top + pos[i].row * dy];
  const svg = svgEl('svg', {
    id: 'dag', width: textX + 250, height: top + snaps.length * dy, role: 'img',
    'aria-label': `history of ${snaps.length} snapshots`,
  });
  snaps.forEach((s, i) => {
    const [x1, y1] = at(i);
    for (const p of s.parents) {
      if (!index.has(p)) continue; // collected by gc, or not imported
      const [x2, y2] = at(index.get(p));
      const d = x1 === x2 ? `M${x1},${y1} L${x2},${y2}`
                          : `M${x1},${y1} C${x1},${y1 + dy * 0.8} ${x2},${y2 - dy * 0.8} ${x2},${y2}`;
      svg.append(svgEl('path', { class: 'edge', d, 'data-from': s.id, 'data-to': p }));
    }
  });
  snaps.forEach((s, i) => {
    const [x, y] = at(i);
    const cls = ['dag-node'];
    if (s.id === selected) cls.push('selected');
    if (compared.includes(s.id)) cls.push('compared');
    const g = svgEl('g', { class: cls.join(' '), 'data-id': s.id, tabindex: 0 },
      svgEl('title', { text: `${s.id}\n${s.node} incarnation ${s.incarnation}\n${s.created_at}` }),
      svgEl('circle', { cx: x, cy: y, r }),
      svgEl('text', { class: 'id', x: textX, y: y + 4, text: short(s.id) }),
      svgEl('text', { class: 'meta', x: textX + 108, y: y + 4,
                      text: `${s.node} #${s.incarnation}  ${s.created_at.slice(5, 19).replace('T', ' ')}` }));
    if (s.refs.length)
      g.append(svgEl('text', { class: 'ref', x: textX, y: y + 19, text: s.refs.join(', ') }));
    g.addEventListener('click', () => goTo({ s: s.id, c: readView().c }));
    g.addEventListener('keydown', e => { if (e.key === 'Enter') goTo({ s: s.id, c: readView().c }); });
    svg.append(g);
  });
  return svg;
}

// --------------------------------------------------------------- snapshot

function showSnapshot(snap, view) {
  const m = snap.manifest || {};
  const facts = el('dl', { class: 'facts' });
  const fact = (k, v) => facts.append(el('dt', { text: k }), el('dd', {}, v));
  fact('id', el('code', { text: snap.id }));
  if (snap.kind === 'cluster') {
    fact('kind', 'cluster snapshot: its members are snapshots of their own stores');
    replaceChildren('snapshot', el('h2', { text: 'Snapshot' }), facts);
    return;
  }
  const node = m.node || {};
  fact('node', `${node.name} (incarnation ${node.incarnation})`);
  fact('created', m.created_at_ms ? new Date(m.created_at_ms).toISOString() : '?');
  const parents = (m.parents || []);
  fact('parents', parents.length ? el('span', {}, ...parents.map(p =>
    el('a', { href: '#s=' + p, class: 'mono', text: short(p) + ' ' }))) : 'none (a root snapshot)');
  fact('refs', snap.refs.length ? snap.refs.join(', ') : 'none');
  if (snap.error) {
    fact('layers', `cannot be read: ${snap.error.code}: ${snap.error.message}`);
  } else {
    fact('components', `${snap.components.length} (${snap.components_by_type.map(t =>
      `${t.count} ${t.type}`).join(', ')})`);
    fact('graphs', snap.graphs.map(g => `${g.name}: ${g.components} components, ${g.wires} wires`).join('; ') || 'none');
    fact('effects', `${snap.effects} entries`);
    fact('in flight', `${snap.in_flight_messages} messages at the cut`);
  }
  replaceChildren('snapshot', el('h2', { text: 'Snapshot' }), facts);
}

function showComponents(snap, view) {
  if (!snap.components) {
    replaceChildren('component-list', el('p', { class: 'muted', text: 'No components to list.' }));
    return;
  }
  const rows = snap.components.map(c => {
    const tr = el('tr', { class: 'component' + (c.name === view.c ? ' selected' : ''),
                          dataset: { name: c.name, search: `${c.name} ${c.type}`.toLowerCase() } },
      el('td', { class: 'mono', text: c.name }),
      el('td', { text: c.type }),
      el('td', { text: c.package }),
      el('td', { class: 'num', text: humanBytes(c.state_bytes) }),
      el('td', { class: 'num', text: String(c.state_version) }),
      el('td', { text: c.graph || '' }));
    tr.addEventListener('click', () => goTo({ ...readView(), s: snap.id, c: c.name }));
    return tr;
  });
  const table = el('table', { id: 'component-table' },
    el('thead', {}, el('tr', {}, ...['name', 'type', 'package', 'state size', 'state version', 'graph']
      .map(h => el('th', { text: h })))),
    el('tbody', {}, ...rows));
  const filter = document.getElementById('component-filter');
  const apply = () => {
    const q = filter.value.trim().toLowerCase();
    for (const tr of rows) tr.hidden = q !== '' && !tr.dataset.search.includes(q);
  };
  filter.oninput = apply;
  apply();
  const box = replaceChildren('component-list', el('div', { class: 'scroll' }, table)).firstChild;
  const selected = rows.find(tr => tr.dataset.name === view.c);
  if (selected) box.scrollTop = selected.offsetTop - box.clientHeight / 2;
}

// ------------------------------------------------------------------ state

function showState(st) {
  const facts = el('dl', { class: 'facts' });
  const fact = (k, v) => facts.append(el('dt', { text: k }), el('dd', {}, v));
  fact('component', el('code', { text: st.component }));
  fact('snapshot', el('code', { text: short(st.snapshot) }));
  fact('type', `${st.type} (${st.package})`);
  fact('state', `${humanBytes(st.state_bytes)}, digest ${short(st.state_digest)}`);
  let text = JSON.stringify(st.state, null, 2);
  if (text.length > STATE_TEXT_LIMIT)
    text = text.slice(0, STATE_TEXT_LIMIT) + `\n… (${text.length - STATE_TEXT_LIMIT} more characters: amber cat prints all)`;
  replaceChildren('state-body', facts,
    st.described ? null : el('p', { class: 'muted', text: `Shown by size and digest: ${st.why_not}` }),
    el('pre', { id: 'state-json', text }));
}

// ------------------------------------------------------------------- diff

function fillDiffForm(snaps, from, to) {
  for (const [id, value] of [['diff-from', from], ['diff-to', to]]) {
    const select = document.getElementById(id);
    select.replaceChildren(...snaps.map(s =>
      el('option', { value: s.id, text: `${short(s.id)} ${s.node} #${s.incarnation}` })));
    if (value) select.value = value;
  }
  document.getElementById('diff-form').onsubmit = e => {
    e.preventDefault();
    const v = readView();
    goTo({ ...v, a: document.getElementById('diff-from').value, b: document.getElementById('diff-to').value });
  };
}

function showDiff(d) {
  const v = readView();
  const body = [];
  const sign = d.state_bytes_delta < 0 ? '' : '+';
  body.push(el('p', { id: 'diff-summary', text:
    `${short(d.from)} → ${short(d.to)}: ${d.changed.length} changed, ${d.added.length} added, ` +
    `${d.removed.length} removed, ${d.unchanged} unchanged; state ${sign}${humanBytes(d.state_bytes_delta)}` }));
  const list = el('ul', { class: 'diff', id: 'diff-lines' });
  const open = name => el('a', { href: '#', class: 'mono', text: name,
    onclick: e => { e.preventDefault(); goTo({ ...v, s: d.to, c: name }); } });
  for (const x of d.removed)
    list.append(el('li', { class: 'removed' }, `removed  `, x.name, `  ${x.type}  -${humanBytes(x.old_bytes)}`));
  for (const x of d.added)
    list.append(el('li', { class: 'added' }, `added    `, open(x.name), `  ${x.type}  +${humanBytes(x.new_bytes)}`));
  for (const x of d.changed.slice(0, DIFF_COMPONENTS_SHOWN)) {
    const type = x.old_type && x.old_type !== x.type ? `${x.old_type} → ${x.type}` : x.type;
    list.append(el('li', { class: 'changed', dataset: { component: x.name } }, 'changed  ', open(x.name),
      `  ${type}  ${humanBytes(x.old_bytes)} → ${humanBytes(x.new_bytes)}`));
    if (x.state_diff_lines) {
      if (!x.state_diff_lines.length) list.append(el('li', { class: 'field muted', text: '(no change in its JSON)' }));
      for (const line of x.state_diff_lines) list.append(el('li', { class: 'field', text: line }));
    } else {
      list.append(el('li', { class: 'field muted', text: `sizes only: ${x.state_diff_unavailable}` }));
    }
  }
  if (d.changed.length > DIFF_COMPONENTS_SHOWN)
    list.append(el('li', { class: 'muted', text:
      `… ${d.changed.length - DIFF_COMPONENTS_SHOWN} more changed components (amber diff lists all)` }));
  for (const g of d.graphs_added) list.append(el('li', { class: 'added', text: `graph added    ${g}` }));
  for (const g of d.graphs_removed) list.append(el('li', { class: 'removed', text: `graph removed  ${g}` }));
  for (const g of d.graphs_changed) list.append(el('li', { class: 'changed', text: `graph changed  ${g}` }));
  if (d.node_renamed) list.append(el('li', { text: 'node renamed' }));
  if (d.config_changed) list.append(el('li', { text: 'node config changed' }));
  body.push(list);
  replaceChildren('diff-body', ...body);
}

// ------------------------------------------------------------------ graph

// Columns by the longest chain of wires leading to a box (wires that close
// a cycle are ignored), boxes stacked in each column.
function layoutBoxes(boxes, links) {
  const rank = new Map(boxes.map(b => [b.key, 0]));
  for (let pass = 0; pass < boxes.length; ++pass) {
    let moved = false;
    for (const l of links) {
      const want = rank.get(l.from) + 1;
      if (l.from !== l.to && want > rank.get(l.to) && want < boxes.length) {
        rank.set(l.to, want);
        moved = true;
      }
    }
    if (!moved) break;
  }
  const columns = new Map();
  for (const b of boxes) {
    const r = rank.get(b.key);
    if (!columns.has(r)) columns.set(r, []);
    columns.get(r).push(b);
  }
  return { rank, columns };
}

function drawGraph(title, boxes, links) {
  const { columns } = layoutBoxes(boxes, links);
  const charW = 7.3, boxH = 34, gapY = 16, gapX = 150, pad = 10;
  const width = Math.max(...boxes.map(b => Math.max(b.label.length, b.sub.length))) * charW + 2 * pad;
  const place = new Map();
  let height = 0;
  for (const [r, col] of columns) {
    col.forEach((b, i) => place.set(b.key, { x: pad + r * (width + gapX), y: pad + i * (boxH + gapY) }));
    height = Math.max(height, pad + col.length * (boxH + gapY));
  }
  const svg = svgEl('svg', { class: 'graph', width: pad * 2 + columns.size * (width + gapX), height: height + pad,
                             role: 'img', 'aria-label': title });
  svg.append(svgEl('defs', {}, svgEl('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
    markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' },
    svgEl('path', { class: 'arrow-head', d: 'M0,0 L10,5 L0,10 z' }))));
  for (const l of links) {
    const a = place.get(l.from), b = place.get(l.to);
    const x1 = a.x + width, y1 = a.y + boxH / 2, x2 = b.x, y2 = b.y + boxH / 2;
    const back = x2 <= x1; // a wire within a column or backwards: loop around
    const d = back ? `M${x1},${y1} C${x1 + 60},${y1 - 40} ${x2 - 60},${y2 - 40} ${x2},${y2}`
                   : `M${x1},${y1} C${x1 + gapX / 2},${y1} ${x2 - gapX / 2},${y2} ${x2},${y2}`;
    svg.append(svgEl('path', { class: 'wire', d }),
      svgEl('text', { class: 'port', x: x1 + 6, y: y1 - 5, text: l.label }));
  }
  for (const b of boxes) {
    const p = place.get(b.key);
    svg.append(svgEl('g', { class: 'component-box', 'data-name': b.key },
      svgEl('rect', { class: 'box', x: p.x, y: p.y, width, height: boxH, rx: 4 }),
      svgEl('text', { x: p.x + pad, y: p.y + 14, text: b.label }),
      svgEl('text', { class: 'meta', x: p.x + pad, y: p.y + 28, text: b.sub })));
  }
  return svg;
}

// One box per component, or per type when there are too many to read.
function graphPicture(g) {
  const typeOf = new Map(g.components.map(c => [c.name, c.type]));
  if (g.components.length <= GRAPH_INSTANCES_DRAWN) {
    const boxes = g.components.map(c => ({ key: c.name, label: c.name, sub: c.type }));
    for (const w of g.wires)
      if (!typeOf.has(w.to)) { typeOf.set(w.to, 'elsewhere'); boxes.push({ key: w.to, label: w.to, sub: 'another member' }); }
    return drawGraph(g.name, boxes, g.wires.map(w => ({ from: w.from, to: w.to, label: w.port })));
  }
  const counts = new Map();
  for (const c of g.components) counts.set(c.type, (counts.get(c.type) || 0) + 1);
  const typeKey = name => typeOf.get(name) || name;
  const links = new Map();
  for (const w of g.wires) {
    const from = typeKey(w.from), to = typeKey(w.to);
    if (!counts.has(to)) counts.set(to, 0);
    const key = `${from}\u0000${w.port}\u0000${to}`;
    links.set(key, { from, to, port: w.port, n: (links.has(key) ? links.get(key).n : 0) + 1 });
  }
  const boxes = [...counts].map(([t, n]) => ({ key: t, label: t, sub: n ? `× ${n}` : 'another member' }));
  return drawGraph(g.name, boxes, [...links.values()].map(l => ({ from: l.from, to: l.to, label: `${l.port} × ${l.n}` })));
}

function showGraph(topo) {
  const parts = [];
  if (!topo.graphs.length) parts.push(el('p', { class: 'muted', text: 'No graphs: its components were spawned directly.' }));
  for (const g of topo.graphs) {
    parts.push(el('h3', { text: `${g.name}: ${g.components.length} components, ${g.wires.length} wires` }));
    if (g.components.length) parts.push(el('div', { class: 'scroll' }, graphPicture(g)));
    const rows = g.wires.slice(0, WIRES_SHOWN).map(w => el('tr', { class: 'wire-row' },
      el('td', { class: 'mono', text: w.from }), el('td', { text: `--${w.port}-->` }), el('td', { class: 'mono', text: w.to })));
    if (rows.length)
      parts.push(el('div', { class: 'scroll' }, el('table', {},
        el('thead', {}, el('tr', {}, el('th', { text: 'from' }), el('th', { text: 'port' }), el('th', { text: 'to' }))),
        el('tbody', {}, ...rows))));
    if (g.wires.length > WIRES_SHOWN)
      parts.push(el('p', { class: 'muted', text: `… ${g.wires.length - WIRES_SHOWN} more wires (amber graph lists all)` }));
  }
  replaceChildren('graph-body', ...parts);
}

// ------------------------------------------------------------------- view

function showError(err) {
  const box = document.getElementById('error');
  box.hidden = false;
  box.textContent = String(err.message || err);
}

let rendering = 0; // the newest render wins when the fragment changes quickly

async function render() {
  const mine = ++rendering;
  document.body.dataset.state = 'loading';
  document.getElementById('error').hidden = true;
  const view = readView();
  try {
    const log = await api('/api/log');
    if (mine !== rendering) return;
    const snaps = log.snapshots;
    const heads = new Set(snaps.flatMap(s => s.refs));
    document.getElementById('store-summary').textContent =
      `${snaps.length} snapshots, ${heads.size} refs` +
      (log.unreadable.length ? `, ${log.unreadable.length} unreadable (run amber verify)` : '');
    const spec = view.s || (snaps.length ? snaps[0].id : null);
    if (!spec) {
      replaceChildren('history', drawHistory(snaps, null, []));
      document.body.dataset.state = 'ready';
      return;
    }
    const [snap, topo] = await Promise.all([api(`/api/snapshot/${seg(spec)}`),
                                            api(`/api/graph/${seg(spec)}`).catch(e => ({ error: e }))]);
    if (mine !== rendering) return;
    // The diff: from the chosen snapshots, else from the selected one's parent.
    const parents = (snap.manifest && snap.manifest.parents) || [];
    const to = view.b || snap.id;
    const from = view.a || (view.b ? null : parents[0]);
    const diffSpecs = from ? [from, to] : null;
    // A failed diff or state is told in its own panel; the rest still shows.
    const [diff, state] = await Promise.all([
      diffSpecs ? api(`/api/diff/${seg(diffSpecs[0])}/${seg(diffSpecs[1])}`).catch(e => ({ error: e })) : null,
      view.c ? api(`/api/state/${seg(snap.id)}/${seg(view.c)}`).catch(e => ({ error: e })) : null]);
    if (mine !== rendering) return;
    const compared = diff && !diff.error ? [diff.from, diff.to] : [];
    replaceChildren('history', drawHistory(snaps, snap.id, compared));
    showSnapshot(snap, view);
    showComponents(snap, view);
    fillDiffForm(snaps, compared.length ? compared[0] : parents[0], compared.length ? compared[1] : snap.id);
    if (diff && diff.error) replaceChildren('diff-body', el('p', { class: 'error', text: diff.error.message }));
    else if (diff) showDiff(diff);
    else replaceChildren('diff-body', el('p', { class: 'muted', text:
      'A root snapshot: nothing before it to compare with. Pick two snapshots above.' }));
    if (state && state.error) replaceChildren('state-body', el('p', { class: 'error', text: state.error.message }));
    else if (state) showState(state);
    else replaceChildren('state-body', el('p', { class: 'muted', text: 'Click a component to read its state.' }));
    if (topo.error) replaceChildren('graph-body', el('p', { class: 'muted', text: topo.error.message }));
    else showGraph(topo);
    document.body.dataset.state = 'ready';
  } catch (err) {
    if (mine !== rendering) return;
    showError(err);
    document.body.dataset.state = 'error';
  }
}

window.addEventListener('hashchange', render);
render();
