(function () {
'use strict';
// provcheck HTML report. Builds every view from the JSON block with textContent only:
// no innerHTML, no inline handlers, nothing loaded from anywhere.
var DATA = JSON.parse(document.getElementById('pc-data').textContent);
DATA.findings = (function (p) {  // rows of columns; the few-valued columns index into strings
  var packed = {};
  p.packed.forEach(function (c) { packed[c] = 1; });
  return p.rows.map(function (row) {
    var f = {};
    p.columns.forEach(function (c, i) {
      var v = row[i];
      if (v !== null) f[c] = packed[c] ? p.strings[v] : v;
    });
    return f;
  });
})(DATA.findings);
var SEV = ['critical', 'high', 'medium', 'low', 'info'];
var PAGE = 200;
var NONE = '\u2205';  // the filter value of "(none)": '' is "any"
var HASH_RE = /^(sha256:|sha512:|sha1:)?[0-9a-f]{32,128}$/i;

function el(tag, attrs) {
  var n = document.createElement(tag);
  if (attrs) {
    for (var k in attrs) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') n.textContent = String(v);
      else if (k === 'cls') n.className = v;
      else if (k === 'on') { for (var ev in v) n.addEventListener(ev, v[ev]); }
      else n.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (var i = 2; i < arguments.length; i++) add(n, arguments[i]);
  return n;
}
function add(n, kid) {
  if (kid === undefined || kid === null || kid === false) return;
  if (Array.isArray(kid)) { kid.forEach(function (k) { add(n, k); }); return; }
  n.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
}
function txt(v) { return v === undefined || v === null ? '' : typeof v === 'object' && 'text' in v ? String(v.text) : String(v); }
function short(h, n) { n = n || 19; h = txt(h); return h.length <= n + 2 ? h : h.slice(0, n) + '\u2026'; }
function plural(n, w) {
  if (n === 1) return n + ' ' + w;
  if (/(ch|sh|s|x)$/.test(w)) return n + ' ' + w + 'es';
  if (/[^aeiou]y$/.test(w)) return n + ' ' + w.slice(0, -1) + 'ies';
  return n + ' ' + w + 's';
}

function copyText(text, btn) {
  function done(word) { btn.textContent = word; btn.classList.add('done');
    setTimeout(function () { btn.textContent = 'copy'; btn.classList.remove('done'); }, 1500); }
  var t = el('textarea', {readonly: true, 'aria-hidden': 'true'}), ok = false;
  t.value = text; document.body.appendChild(t); t.select();
  try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
  t.remove();
  if (ok) { done('copied'); return; }
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).then(function () { done('copied'); }, function () { done('not allowed here'); });
  } else done('not allowed here');
}
document.addEventListener('click', function (e) {
  var b = e.target.closest && e.target.closest('button.copy');
  if (b) { e.stopPropagation(); copyText(b.getAttribute('data-copy'), b); }
});
function hash(h) {
  return el('span', {cls: 'hash', title: h}, el('code', {text: short(h)}),
            el('button', {type: 'button', cls: 'copy', 'data-copy': h, title: 'copy the full value', text: 'copy'}));
}
function sevBadge(s) { return el('span', {cls: 'sev sev-' + txt(s), text: s}); }
function verdictBadge(v) { return el('span', {cls: 'verdict v-' + txt(v), text: v}); }

// -- evidence, rendered for its kind ------------------------------------------------------------
function isDiff(s) { return typeof s === 'string' && /^(--- |\+\+\+ |@@ )/m.test(s) && /\n[-+ @]/.test(s); }
function isHopList(v) {
  return Array.isArray(v) && v.length > 1 && v.every(function (h) {
    return typeof h === 'string' || (h && typeof h === 'object' && !Array.isArray(h) && typeof h.path === 'string');
  }) && v.some(function (h) { return typeof h === 'object' || h.indexOf('/') >= 0; });
}
function chain(hops, compact) {
  var box = el('div', {cls: 'chain'});
  hops.forEach(function (h, i) {
    if (i) add(box, el('span', {cls: 'arrowr', text: '\u2192'}));
    if (typeof h === 'string') {
      add(box, el('span', {cls: 'hop', title: h}, el('span', {cls: 'hp', text: compact ? h.split('/').pop() : h}))); return;
    }
    var sub = [];
    if (h.needed) sub.push((h.kind && h.kind !== 'needed' ? h.kind + ' ' : 'needs ') + h.needed);
    if (h.package) sub.push(h.package);
    if (h.layer) sub.push('layer ' + short(h.layer));
    add(box, el('span', {cls: 'hop', title: txt(h.path) + (h.sha256 ? '\nsha256 ' + h.sha256 : '')},
      el('div', {cls: 'hp', text: h.path}), sub.length ? el('div', {cls: 'hs', text: sub.join(' \u00b7 ')}) : null));
  });
  return box;
}
function chains(list) {  // a table cell: the first five, the rest one click away
  var box = el('div', {cls: 'chains'});
  function draw(n) {
    box.textContent = '';
    list.slice(0, n).forEach(function (p) { add(box, chain(p, true)); });
    if (list.length > n) add(box, el('button', {type: 'button', cls: 'more', text: 'show ' + (list.length - n) + ' more',
      on: {click: function (e) { e.stopPropagation(); draw(list.length); }}}));
  }
  draw(5);
  return box;
}
function udiff(text) {
  var box = el('div', {cls: 'udiff'});
  txt(text).split('\n').forEach(function (l) {
    var c = l.startsWith('@@') ? 'h' : l.startsWith('+') && !l.startsWith('+++') ? 'a' :
      l.startsWith('-') && !l.startsWith('---') ? 'd' : '';
    add(box, el('div', {cls: c, text: l || ' '}));
  });
  return box;
}
function value(key, v, depth) {
  depth = depth || 0;
  if (v === null || v === undefined) return el('span', {cls: 'no', text: '\u2014'});
  if (typeof v === 'string') {
    if (isDiff(v)) return udiff(v);
    if (HASH_RE.test(v) || (/digest|sha|commit|fingerprint/i.test(key) && v.length > 24 && !/\s/.test(v))) return hash(v);
    if (v.length > 120 || v.indexOf('\n') >= 0) return el('pre', {cls: 'block', text: v});
    return el('span', {text: v});
  }
  if (typeof v !== 'object') return el('span', {text: String(v)});
  if (Array.isArray(v)) {
    if (/chain|reached|path/i.test(key) && isHopList(v)) return chain(v);
    if (v.length && v.every(function (x) { return isHopList(x); })) return el('div', {}, v.map(chain));
    if (v.length && v.every(function (x) { return x && typeof x === 'object' && !Array.isArray(x); })) return objTable(key, v);
    if (v.every(function (x) { return typeof x !== 'object'; })) {
      return el('div', {}, v.map(function (x, i) { return [i ? ', ' : '', value(key, x, depth + 1)]; }));
    }
    return el('pre', {cls: 'block', text: JSON.stringify(v, null, 1)});
  }
  if (depth > 3) return el('pre', {cls: 'block', text: JSON.stringify(v, null, 1)});
  return kv(v, depth + 1);
}
function kv(obj, depth) {
  var dl = el('dl', {cls: 'kv'});
  Object.keys(obj).forEach(function (k) { add(dl, [el('dt', {text: k}), el('dd', {}, value(k, obj[k], depth))]); });
  return dl;
}
function objTable(key, rows) {
  var cols = [];
  rows.forEach(function (r) { Object.keys(r).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); }); });
  var shown = Math.min(rows.length, 100), box = el('div');
  function draw() {
    box.textContent = '';
    var t = el('table', {cls: 'grid'}, el('thead', {}, el('tr', {}, cols.map(function (c) { return el('th', {text: c}); }))));
    var tb = el('tbody');
    rows.slice(0, shown).forEach(function (r) {
      add(tb, el('tr', {}, cols.map(function (c) { return el('td', {}, c in r ? value(c, r[c], 2) : ''); })));
    });
    add(t, tb); add(box, t);
    if (shown < rows.length) {
      add(box, el('div', {cls: 'pager'}, 'showing ' + shown + ' of ' + rows.length + ' ',
        el('button', {type: 'button', text: 'show all ' + rows.length, on: {click: function () { shown = rows.length; draw(); }}})));
    }
  }
  draw();
  return box;
}
function ruleDoc(doc) {
  var box = el('div', {cls: 'doc'}), para = [];
  function flush() { if (para.length) { add(box, el('p', {text: para.join('\n')})); para = []; } }
  txt(doc).split('\n').forEach(function (l) {
    var m = /^#{1,6}\s+(.*)$/.exec(l);
    if (m) { flush(); add(box, el('h5', {text: m[1]})); }
    else if (l.trim() === '') flush();
    else para.push(l);
  });
  flush();
  return box;
}

// -- a table: sort, filter, page, expand ------------------------------------------------------------
// columns: [{key, label, kind, filter: 'select'|'text', get(row), sortKey(row), cls}]
function Table(opts) {
  var st = {sort: opts.sort || null, dir: opts.dir || 1, filters: Object.assign({}, opts.filters || {}), q: '',
            page: 0, open: null};
  var root = el('div', {cls: 'table', id: opts.id}), bar = el('div', {cls: 'bar'}), count = el('span', {cls: 'count'});
  var body = el('div'), pagerTop = el('div', {cls: 'pager'}), pagerBottom = el('div', {cls: 'pager'});
  var rows = opts.rows, view = rows, ctrls = {};
  function get(c, r) { return c.get ? c.get(r) : r[c.key]; }
  opts.columns.forEach(function (c) {
    if (c.filter === 'select') {
      var counts = {};
      rows.forEach(function (r) { var v = txt(get(c, r)); counts[v] = (counts[v] || 0) + 1; });
      var keys = Object.keys(counts).sort(c.order ? function (a, b) { return c.order(a) - c.order(b); } : undefined);
      var s = el('select', {'data-filter': c.key, on: {change: function () { st.filters[c.key] = s.value; st.page = 0; update(); }}},
        el('option', {value: '', text: 'any (' + rows.length + ')'}),
        keys.map(function (k) { return el('option', {value: k === '' ? NONE : k, text: (k || '(none)') + ' (' + counts[k] + ')'}); }));
      if (st.filters[c.key] !== undefined) s.value = st.filters[c.key];
      ctrls[c.key] = s;
      add(bar, el('label', {}, c.label, s));
    }
  });
  if (opts.search !== false) {
    var q = el('input', {type: 'search', placeholder: opts.placeholder || 'path or text contains\u2026', 'data-filter': 'q',
      on: {input: function () { st.q = q.value.toLowerCase(); st.page = 0; update(); }}});
    add(bar, el('label', {}, 'search', q));
  }
  add(bar, count);
  add(root, [bar, pagerTop, body, pagerBottom]);
  function match(r) {
    for (var k in st.filters) {
      var want = st.filters[k];
      if (want === '' || want === undefined) continue;
      var c = opts.columns.filter(function (c) { return c.key === k; })[0];
      if (c && txt(get(c, r)) !== (want === NONE ? '' : want)) return false;
      if (!c && opts.extraFilter && !opts.extraFilter(k, want, r)) return false;
    }
    if (st.q) {
      var hay = r.__hay || (r.__hay = (opts.haystack ? opts.haystack(r) : opts.columns.map(function (c) { return txt(get(c, r)); }).join(' ')).toLowerCase());
      if (hay.indexOf(st.q) < 0) return false;
    }
    return true;
  }
  function update() {
    view = rows.filter(match);
    if (st.sort) {
      var c = opts.columns.filter(function (c) { return c.key === st.sort; })[0];
      var key = c.sortKey || function (r) { return txt(get(c, r)).toLowerCase(); };
      view = view.map(function (r, i) { return [key(r), i, r]; }).sort(function (a, b) {
        return (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]) * (a[0] === b[0] ? 1 : st.dir);
      }).map(function (x) { return x[2]; });
    }
    count.textContent = 'showing ' + view.length + ' of ' + plural(rows.length, opts.noun || 'row');
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    if (st.page >= pages) st.page = pages - 1;
    [pagerTop, pagerBottom].forEach(function (p) { pager(p, st.page, pages, view.length, PAGE, function (n) { st.page = n; update(); }); });
    draw();
  }
  function draw() {
    body.textContent = '';
    var head = el('tr', {}, opts.columns.map(function (c) {
      var arrow = st.sort === c.key ? (st.dir > 0 ? '\u25b2' : '\u25bc') : '';
      return el('th', {cls: 'sortable', 'data-sort': c.key, title: 'sort by ' + c.label,
        on: {click: function () { if (st.sort === c.key) st.dir = -st.dir; else { st.sort = c.key; st.dir = 1; } update(); }}},
        c.label, el('span', {cls: 'arrow', text: arrow}));
    }));
    var tb = el('tbody');
    view.slice(st.page * PAGE, (st.page + 1) * PAGE).forEach(function (r) {
      var tr = el('tr', {cls: 'row' + (opts.rowClass ? ' ' + opts.rowClass(r) : '') + (st.open === r ? ' open' : '')},
        opts.columns.map(function (c) { return el('td', {cls: c.cls || ''}, cell(c, r)); }));
      if (opts.rowId) tr.id = opts.rowId(r);
      add(tb, tr);
      if (opts.expand) {
        tr.setAttribute('tabindex', '0');
        tr.setAttribute('aria-expanded', st.open === r ? 'true' : 'false');
        var toggle = function (e) {
          if (e.target.closest('a,button,input,select')) return;
          if (e.type === 'keydown' && e.key !== 'Enter') return;
          st.open = st.open === r ? null : r; draw();
        };
        tr.addEventListener('click', toggle); tr.addEventListener('keydown', toggle);
        if (st.open === r) add(tb, el('tr', {cls: 'detail'}, el('td', {colspan: opts.columns.length}, opts.expand(r))));
      }
    });
    add(body, el('table', {cls: 'grid'}, el('thead', {}, head), tb));
  }
  function cell(c, r) {
    var v = get(c, r);
    if (c.render) return c.render(v, r);
    if (v === undefined || v === null || v === '') return '';
    switch (c.kind) {
      case 'severity': return sevBadge(v);
      case 'verdict': return verdictBadge(v);
      case 'hash': return hash(txt(v));
      case 'chain': return Array.isArray(v) ? chains(v) : '';
      case 'link': return el('a', {href: v.href, text: v.text});
      case 'list': return Array.isArray(v) ? v.join(', ') : txt(v);
      default: return txt(v);
    }
  }
  root.setFilter = function (k, v) { st.filters[k] = v; if (ctrls[k]) ctrls[k].value = v; st.page = 0; update(); };
  root.openRow = function (pred) {
    var i = view.findIndex(pred);
    if (i < 0) return false;
    st.open = view[i]; st.page = Math.floor(i / PAGE); update(); return true;
  };
  update();
  return root;
}
function pager(box, page, pages, total, size, go) {
  box.textContent = '';
  if (pages <= 1) return;
  add(box, [el('button', {type: 'button', text: '\u2039 prev', disabled: page === 0, on: {click: function () { go(page - 1); }}}),
    el('span', {text: 'page ' + (page + 1) + ' of ' + pages + ' (rows ' + (page * size + 1) + '\u2013' + Math.min(total, (page + 1) * size) + ' of ' + total + ')'}),
    el('button', {type: 'button', text: 'next \u203a', disabled: page >= pages - 1, on: {click: function () { go(page + 1); }}})]);
}

// -- findings -----------------------------------------------------------------------------------------
function findingDetail(f) {
  var rule = DATA.rules[f.rule] || {};
  var loc = {artifact: f.artifact, path: f.path};
  if (f.chain) loc['inside'] = f.chain.join(' \u203a ');
  if (f.lines) loc.lines = f.lines.join('\u2013');
  if (f.layer) loc.layer = f.layer;
  if (f.sha256) loc.sha256 = f.sha256;
  if (f['package']) loc['package'] = f['package'];
  var box = el('div', {cls: 'detail'},
    el('div', {cls: 'message', text: f.message}),
    f.suppressed ? el('div', {cls: 'warn', text: 'suppressed: ' + f.suppressed}) : null,
    el('h4', {text: 'location'}), kv(loc, 1));
  if (f.related) add(box, [el('h4', {text: 'related'}), objTable('related', f.related)]);
  if (f.evidence && Object.keys(f.evidence).length) add(box, [el('h4', {text: 'evidence'}), el('div', {cls: 'evidence'}, kv(f.evidence, 1))]);
  if (f.release_diff) {
    add(box, el('button', {type: 'button', cls: 'more', text: 'the whole diff, side by side, in the release view',
      on: {click: function () { openReleaseFile(f.release_diff); }}}));
  }
  add(box, [el('h4', {text: 'rule ' + f.rule + (rule.name ? ' \u00b7 ' + rule.name : '')}),
    rule.summary ? el('div', {text: rule.summary}) : null,
    rule.doc ? el('details', {cls: 'ruledoc'}, el('summary', {text: 'documentation'}), el('pre', {cls: 'doc'}, ruleDoc(rule.doc))) : null]);
  return box;
}
function findingsView(sec) {
  var fs = DATA.findings, sevOrder = function (s) { var i = SEV.indexOf(s); return i < 0 ? 9 : i; };
  fs.forEach(function (f) { f.supp = f.suppressed ? 'suppressed' : 'active'; });
  add(sec, el('h2', {text: plural(fs.length, 'finding')}));
  var chips = el('div', {cls: 'chips'});
  add(sec, chips);
  var t = Table({id: 'findings-table', rows: fs, noun: 'finding', expand: findingDetail, sort: 'severity',
    filters: {supp: fs.some(function (f) { return !f.suppressed; }) ? 'active' : ''},
    rowClass: function (f) { return f.suppressed ? 'sup' : ''; },
    haystack: function (f) { return [f.path, f.message, f.rule, f.artifact, f['package'], f.layer].join(' '); },
    columns: [
      {key: 'severity', label: 'severity', kind: 'severity', filter: 'select', cls: 'nw', order: sevOrder, sortKey: function (f) { return sevOrder(f.severity); }},
      {key: 'rule', label: 'rule', filter: 'select', cls: 'mono nw'},
      {key: 'plugin', label: 'plugin', filter: 'select', cls: 'nw'},
      {key: 'path', label: 'path', cls: 'path', render: function (v, f) { return [txt(v) || f.artifact, f.chain ? el('span', {cls: 'tag', text: 'in ' + f.chain[f.chain.length - 1]}) : null]; }},
      {key: 'layer', label: 'layer', filter: 'select', render: function (v) { return v ? el('code', {title: v, text: short(v, 15)}) : ''; }},
      {key: 'package', label: 'package', filter: 'select'},
      {key: 'message', label: 'message', cls: 'msg', render: function (v) { return el('div', {cls: 'clamp', text: v}); }},
      {key: 'supp', label: 'suppressed', filter: 'select', cls: 'nw'}
    ]});
  SEV.forEach(function (s) {
    var n = fs.filter(function (f) { return f.severity === s && !f.suppressed; }).length;
    if (!n) return;
    add(chips, el('button', {type: 'button', cls: 'chip', 'data-severity': s, on: {click: function () { t.setFilter('severity', s); }}},
      sevBadge(s), el('b', {text: n})));
  });
  add(chips, el('button', {type: 'button', cls: 'chip', text: 'all', on: {click: function () { t.setFilter('severity', ''); }}}));
  add(sec, t);
}

// -- release ------------------------------------------------------------------------------------------
var DIFF_PAGE = 400;
function parseDiff(text) {
  // unified diff -> side-by-side rows: [leftNo, leftText, rightNo, rightText, kind]
  var rows = [], l = 0, r = 0, dels = [], adds = [], notes = [], names = ['', ''];
  function flush() {
    for (var i = 0; i < Math.max(dels.length, adds.length); i++) {
      var d = dels[i], a = adds[i];
      rows.push([d ? d[0] : '', d ? d[1] : '', a ? a[0] : '', a ? a[1] : '', 'chg']);
    }
    dels = []; adds = [];
  }
  txt(text).split('\n').forEach(function (line) {
    var m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/.exec(line);
    if (m) { flush(); l = +m[1]; r = +m[2]; rows.push(['', line, '', '', 'hunk']); return; }
    if (line.startsWith('--- ') && !rows.length) { names[0] = line.slice(4); return; }
    if (line.startsWith('+++ ') && !rows.length) { names[1] = line.slice(4); return; }
    if (line.startsWith('-')) { dels.push([l++, line.slice(1)]); return; }
    if (line.startsWith('+')) { adds.push([r++, line.slice(1)]); return; }
    if (line.startsWith(' ')) { flush(); rows.push([l++, line.slice(1), r++, line.slice(1), 'same']); return; }
    if (line.startsWith('\\')) return;
    if (line.trim()) { flush(); notes.push(line); }
  });
  flush();
  return {rows: rows, notes: notes, names: names};
}
function sideBySide(entry, risk, path) {
  var parsed = parseDiff(entry.diff), box = el('div', {cls: 'sbs-box', 'data-path': path});
  var riskAt = {};
  (risk || []).forEach(function (h) { if (h.line) (riskAt[h.line] = riskAt[h.line] || []).push(h.indicator + (h.why ? ': ' + h.why : '')); });
  var page = 0, pages = Math.max(1, Math.ceil(parsed.rows.length / DIFF_PAGE));
  var head = el('div', {cls: 'note', text: parsed.rows.length + ' diff rows' + (pages > 1 ? ', ' + DIFF_PAGE + ' per page' : '')});
  var pg = el('div', {cls: 'pager'}), holder = el('div', {cls: 'sbs-scroll'});
  add(box, [head, parsed.notes.length ? el('div', {cls: 'warn', text: parsed.notes.join('\n') + (entry.source === 'evidence' ? ' (the finding evidence keeps the start of the diff)' : '')}) : null, pg, holder]);
  function draw() {
    pager(pg, page, pages, parsed.rows.length, DIFF_PAGE, function (n) { page = n; draw(); });
    holder.textContent = '';
    var t = el('table', {cls: 'sbs'}, el('colgroup', {}, el('col', {cls: 'cno'}), el('col'), el('col', {cls: 'cno'}), el('col')),
      el('thead', {}, el('tr', {cls: 'names'}, el('th', {colspan: 2, text: parsed.names[0]}), el('th', {colspan: 2, text: parsed.names[1]}))));
    var tb = el('tbody');
    parsed.rows.slice(page * DIFF_PAGE, (page + 1) * DIFF_PAGE).forEach(function (row) {
      if (row[4] === 'hunk') { add(tb, el('tr', {cls: 'hunk'}, el('td', {colspan: 4, text: row[1]}))); return; }
      var chg = row[4] === 'chg', rk = row[2] !== '' && riskAt[row[2]];
      add(tb, el('tr', {cls: rk ? 'riskrow' : ''},
        el('td', {cls: 'no', text: row[0]}), el('td', {cls: chg && row[0] !== '' ? 'del' : '', text: row[1]}),
        el('td', {cls: 'no' + (rk ? ' risk' : ''), text: row[2], title: rk ? rk.join('\n') : null}),
        el('td', {cls: (chg && row[2] !== '' ? 'add' : '') + (rk ? ' risk' : ''), text: row[3], title: rk ? rk.join('\n') : null})));
    });
    add(t, tb); add(holder, t);
  }
  draw();
  return box;
}
function releaseDetail(sec, f) {
  var box = el('div', {cls: 'detail'});
  add(box, el('div', {cls: 'message'}, verdictBadge(f.verdict), ' ', el('span', {cls: 'mono', text: f.path})));
  var facts = {};
  if (f.how) facts.how = f.how;
  if (f.rule) facts.rule = f.rule + (f.severity ? ' (' + f.severity + ')' : '');
  if (f.release_sha256) facts['release sha256'] = f.release_sha256;
  if (f.source_sha256) facts['source sha256'] = f.source_sha256;
  if (f.source_git_blob) facts['source git blob'] = f.source_git_blob;
  add(box, kv(facts, 1));
  if (f.risk && f.risk.length) {
    var byLine = {}, lines = [];
    f.risk.forEach(function (h) { var k = txt(h.line); if (!byLine[k]) { byLine[k] = []; lines.push(k); } byLine[k].push(h); });
    add(box, [el('h4', {text: 'risk indicators'}), el('ul', {cls: 'riskl'}, lines.map(function (k) {
      var hs = byLine[k];
      return el('li', {}, el('b', {text: 'line ' + k + ' '}), hs.map(function (h, i) {
        return [i ? '; ' : '', el('code', {text: h.indicator}), ' ', txt(h.why)]; }),
        hs[0].text ? el('pre', {cls: 'block', text: hs[0].text}) : null); }))]);
  }
  var entry = f.diff && sec.diffs[f.diff];
  if (entry) add(box, [el('h4', {text: 'diff (source left, release right)'}), sideBySide(entry, f.risk, f.path)]);
  else if (f.verdict !== 'identical') add(box, el('div', {cls: 'note', text: f.source_sha256 ? 'binary or too large to diff as text: compared by hash' : 'no source counterpart: nothing to diff against'}));
  return box;
}
var releaseTables = [];
function openReleaseFile(path) {
  var v = views.filter(function (v) { return v.id === 'release'; })[0];
  if (!v) return;
  show('release');
  releaseTables.forEach(function (t) {
    t.setFilter('verdict', ''); t.setFilter('changed', '');
    if (t.openRow(function (f) { return f.path === path; })) {
      var row = t.querySelector('tr.row.open');
      if (row) row.scrollIntoView();
    }
  });
}
function releaseView(view, sec) {
  var order = {identical: 9};
  add(view, el('h2', {text: 'release ' + txt(sec.release) + ' vs ' + txt(sec.source)}));
  var facts = {};
  if (sec.source_ref) facts.tag = sec.source_ref;
  if (sec.source_commit) facts['source commit'] = sec.source_commit;
  add(view, kv(facts, 1));
  var chips = el('div', {cls: 'chips'});
  add(view, chips);
  var nonIdentical = sec.files.some(function (f) { return f.verdict !== 'identical'; });
  sec.files.forEach(function (f) { f.changed = f.verdict === 'identical' ? 'identical' : 'differs'; });
  var t = Table({id: 'release-table', rows: sec.files, noun: 'file', expand: function (f) { return releaseDetail(sec, f); },
    filters: {changed: nonIdentical ? 'differs' : ''}, sort: 'severity',
    rowId: function (f) { return 'file-' + f.path; },
    columns: [
      {key: 'path', label: 'path', cls: 'path'},
      {key: 'verdict', label: 'verdict', kind: 'verdict', filter: 'select', sortKey: function (f) { return (order[f.verdict] || 0) + f.verdict; }},
      {key: 'severity', label: 'severity', filter: 'select', render: function (v) { return v ? sevBadge(v) : ''; },
       sortKey: function (f) { var i = SEV.indexOf(f.severity); return (i < 0 ? 9 : i) + (f.verdict === 'identical' ? 10 : 0); }},
      {key: 'rule', label: 'rule', filter: 'select'},
      {key: 'how', label: 'how', cls: 'msg'},
      {key: 'changed', label: 'changed', filter: 'select'},
      {key: 'diff', label: 'diff', render: function (v, f) { return v ? el('span', {cls: 'tag', text: 'diff' + (f.risk ? ' \u00b7 risk' : '')}) : ''; }}
    ]});
  var counts = sec.counts || {};
  Object.keys(counts).forEach(function (k) {
    add(chips, el('button', {type: 'button', cls: 'chip', 'data-verdict': k, on: {click: function () { t.setFilter('changed', ''); t.setFilter('verdict', k); }}},
      verdictBadge(k), el('b', {text: counts[k]})));
  });
  add(chips, el('button', {type: 'button', cls: 'chip', text: 'all files', on: {click: function () { t.setFilter('verdict', ''); t.setFilter('changed', ''); }}}));
  releaseTables.push(t);
  add(view, t);
}

// -- graph: zoom, pan, search -------------------------------------------------------------------------
function graphView(view, sec, vi, si) {
  var src = document.querySelector('.graph-src[data-view="' + vi + '"][data-section="' + si + '"]');
  if (sec.title) add(view, el('h3', {text: sec.title}));
  var svg = src && src.querySelector('svg');
  if (!svg) { add(view, el('div', {cls: 'note', text: 'no graph'})); return; }
  var vp = svg.querySelector('.pc-viewport');
  var W = +svg.getAttribute('width'), H = +svg.getAttribute('height');
  svg.removeAttribute('width'); svg.removeAttribute('height');
  // the viewBox: the graph scaled down to the box when bigger, at its own size (centred) when smaller
  var VB = {x: 0, y: 0, w: W, h: H};
  var s = 1, tx = 0, ty = 0;
  var q = el('input', {type: 'search', id: 'graph-search', placeholder: 'find a file, SONAME or package\u2026'});
  var info = el('span', {cls: 'count', id: 'graph-count', text: sec.node_count + ' files, ' + sec.edge_count + ' edges'});
  var zoomLbl = el('span', {cls: 'note'});
  var box = el('div', {cls: 'graphbox', id: 'graph-box'});
  function pxPerUnit() { var r = box.getBoundingClientRect(); return Math.min(r.width / VB.w, r.height / VB.h) || 1; }
  function apply() {
    vp.setAttribute('transform', 'translate(' + tx.toFixed(1) + ',' + ty.toFixed(1) + ') scale(' + s.toFixed(4) + ')');
    zoomLbl.textContent = Math.round(s * pxPerUnit() * 100) + '%';
  }
  function setViewBox() {
    var w = box.clientWidth || W, h = box.clientHeight || H;
    var k = Math.max(W / w, H / h, 1);  // units per pixel: >1 scales down, never up
    VB = {w: w * k, h: h * k}; VB.x = (W - VB.w) / 2; VB.y = (H - VB.h) / 2;
    svg.setAttribute('viewBox', VB.x.toFixed(1) + ' ' + VB.y.toFixed(1) + ' ' + VB.w.toFixed(1) + ' ' + VB.h.toFixed(1));
  }
  function zoom(f, cx, cy) {
    cx = cx === undefined ? VB.x + VB.w / 2 : cx; cy = cy === undefined ? VB.y + VB.h / 2 : cy;
    var ns = Math.min(Math.max(8, 3 / pxPerUnit()), Math.max(0.05, s * f)); tx = cx - (cx - tx) * ns / s; ty = cy - (cy - ty) * ns / s; s = ns; apply();
  }
  function toSvg(e) {
    var r = svg.getBoundingClientRect(), k = Math.max(VB.w / r.width, VB.h / r.height);
    return [VB.x + (e.clientX - r.left) * k - (r.width * k - VB.w) / 2, VB.y + (e.clientY - r.top) * k - (r.height * k - VB.h) / 2, k];
  }
  var bar = el('div', {cls: 'bar'}, el('label', {}, 'search the graph', q),
    el('button', {type: 'button', text: '+', title: 'zoom in', id: 'graph-zoom-in', on: {click: function () { zoom(1.25); }}}),
    el('button', {type: 'button', text: '\u2212', title: 'zoom out', id: 'graph-zoom-out', on: {click: function () { zoom(0.8); }}}),
    el('button', {type: 'button', text: 'fit', id: 'graph-fit', on: {click: function () { s = 1; tx = 0; ty = 0; apply(); }}}), zoomLbl, info);
  box.appendChild(svg);
  function fitBox() {  // as tall as the graph needs at the box's width, at most 72% of the window
    var w = box.clientWidth || 1000;
    box.style.height = Math.round(Math.min(window.innerHeight * 0.72, Math.max(160, H * Math.min(1, w / W) + 24))) + 'px';
    setViewBox(); apply();
  }
  add(view, [bar, el('div', {cls: 'legend'}, el('span', {}, el('i'), 'needed'), el('span', {}, el('i', {cls: 'dl'}), 'dlopen'),
    el('span', {}, el('i', {cls: 'ip'}), 'interposition (defines a symbol another library owns)'),
    el('span', {}, el('b'), 'asked for (--from/--to/--who-links)'),
    el('span', {text: 'drag to pan, wheel to zoom, hover a box for its path'})), box]);
  box.addEventListener('wheel', function (e) { e.preventDefault(); var p = toSvg(e); zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, p[0], p[1]); }, {passive: false});
  var drag = null;
  box.addEventListener('pointerdown', function (e) { drag = [e.clientX, e.clientY, tx, ty, toSvg(e)[2]]; box.classList.add('drag'); box.setPointerCapture(e.pointerId); });
  box.addEventListener('pointermove', function (e) { if (!drag) return; tx = drag[2] + (e.clientX - drag[0]) * drag[4]; ty = drag[3] + (e.clientY - drag[1]) * drag[4]; apply(); });
  box.addEventListener('pointerup', function () { drag = null; box.classList.remove('drag'); });
  window.addEventListener('resize', fitBox);
  var nodes = Array.prototype.slice.call(svg.querySelectorAll('.pc-node')), edges = Array.prototype.slice.call(svg.querySelectorAll('.pc-edge'));
  var hits = [], cur = 0;
  function center(n) {
    var m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(n.getAttribute('transform')), r = n.querySelector('rect');
    var x = +m[1] + (+r.getAttribute('width')) / 2, y = +m[2] + 23;
    s = Math.max(s, 1 / pxPerUnit());  // readable: at least one pixel per unit
    tx = VB.x + VB.w / 2 - x * s; ty = VB.y + VB.h / 2 - y * s; apply();
  }
  function search() {
    var term = q.value.trim().toLowerCase();
    hits = term ? nodes.filter(function (n) { return n.getAttribute('data-search').indexOf(term) >= 0; }) : [];
    var ids = {};
    hits.forEach(function (n) { ids[n.getAttribute('data-id')] = 1; });
    nodes.forEach(function (n) { n.classList.toggle('match', !!ids[n.getAttribute('data-id')]); n.classList.toggle('dim', !!term && !ids[n.getAttribute('data-id')]); });
    edges.forEach(function (e) { e.classList.toggle('dim', !!term && !ids[e.getAttribute('data-src')] && !ids[e.getAttribute('data-dst')]); });
    info.textContent = term ? plural(hits.length, 'match') + ' of ' + plural(nodes.length, 'file') + (hits.length > 1 ? ' (Enter: next)' : '') :
      sec.node_count + ' files, ' + sec.edge_count + ' edges';
    cur = 0;
    if (hits.length) center(hits[0]);
  }
  q.addEventListener('input', search);
  q.addEventListener('keydown', function (e) { if (e.key === 'Enter' && hits.length) { cur = (cur + 1) % hits.length; center(hits[cur]); } });
  setViewBox();
  apply();
  requestAnimationFrame(fitBox);
}

// -- generic sections ---------------------------------------------------------------------------------
function section(view, sec, vi, si) {
  switch (sec.type) {
    case 'release': return releaseView(view, sec);
    case 'graph': return graphView(view, sec, vi, si);
    case 'note': return add(view, el('p', {cls: sec.warn ? 'warn' : 'note', text: sec.text}));
    case 'counts':
      if (sec.title) add(view, el('h3', {text: sec.title}));
      return add(view, el('div', {cls: 'chips'}, Object.keys(sec.items).map(function (k) { return el('span', {cls: 'chip'}, k, el('b', {text: sec.items[k]})); })));
    case 'details':
      if (sec.title) add(view, el('h3', {text: sec.title}));
      return sec.items.forEach(function (it) {
        add(view, el('div', {cls: 'card', id: it.id}, el('h3', {text: it.title}), it.fields ? kv(it.fields, 1) : null,
          (it.tables || []).map(function (t) { return [el('h4', {text: t.title}), objTable(t.title, t.rows)]; })));
      });
    case 'table':
      if (sec.title) add(view, el('h3', {text: sec.title + ' (' + sec.rows.length + ')'}));
      if (!sec.rows.length) return add(view, el('p', {cls: 'note', text: sec.empty || 'none'}));
      return add(view, Table({id: sec.id, rows: sec.rows, noun: sec.noun || 'row', search: true,
        columns: sec.columns.map(function (c) { return {key: c.key, label: c.label, kind: c.kind, filter: c.filter, cls: c.kind === 'path' || c.kind === 'code' ? 'path' : ''}; }),
        expand: sec.expand ? function (r) { return el('div', {cls: 'detail'}, kv(r[sec.expand] || {}, 1)); } : null}));
  }
}

// -- tabs ---------------------------------------------------------------------------------------------
var main = document.getElementById('pc-main'), tabs = document.getElementById('pc-tabs'), views = [];
function addView(id, title, n, build) {
  var sec = el('section', {cls: 'view', id: 'view-' + id}), built = false;
  var b = el('button', {type: 'button', 'data-view': id, on: {click: function () { show(id); history.replaceState(null, '', '#' + id); }}},
    title, n !== null ? el('span', {cls: 'n', text: n}) : null);
  views.push({id: id, sec: sec, btn: b, build: function () { if (!built) { built = true; build(sec); } }});
  add(tabs, b); add(main, sec);
}
function show(id) {
  views.forEach(function (v) { var on = v.id === id; if (on) v.build(); v.sec.classList.toggle('on', on); v.btn.classList.toggle('on', on); });
}
if (DATA.show_findings) addView('findings', 'Findings', DATA.findings.filter(function (f) { return !f.suppressed; }).length, findingsView);
DATA.views.forEach(function (v, vi) {
  addView(v.id, v.title, v.count === undefined ? null : v.count, function (sec) {
    (v.sections || []).forEach(function (s, si) { section(sec, s, vi, si); });
  });
});
function route() {
  var h = decodeURIComponent(location.hash.slice(1));
  var target = h && document.getElementById(h);
  if (views.some(function (v) { return v.id === h; })) { show(h); return; }
  if (!target) {  // an anchor inside a view not built yet: build them all, then look again
    views.forEach(function (v) { v.build(); });
    target = h && document.getElementById(h);
  }
  if (target) {
    var v = views.filter(function (v) { return v.sec.contains(target); })[0];
    if (v) show(v.id);
    document.querySelectorAll('.card.target').forEach(function (c) { c.classList.remove('target'); });
    target.classList.add('target');
    target.scrollIntoView();
    return;
  }
  if (views.length) show(DATA.default_view && views.some(function (v) { return v.id === DATA.default_view; }) ? DATA.default_view : views[0].id);
}
window.addEventListener('hashchange', route);
route();
void document.body.offsetHeight;  // layout done: the first view is drawn
document.body.setAttribute('data-ready-ms', String(Math.round(performance.now())));
document.body.setAttribute('data-ready', '1');
})();
