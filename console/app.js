// fieldgate's web console: plain JavaScript, no build step; uPlot draws the charts.
// Pages by hash: #/ overview, #/devices, #/device/NAME, #/tag/DEVICE/TAG, #/deadletters, #/partners.
'use strict';
(function () {
  const main = document.getElementById('main');
  let session = { user: null, csrf: null, replay: false };
  let overview = null;
  let timer = null;
  let chart = null;
  let devices = null;

  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  const fmt = (n, d = 1) =>
    n === null || n === undefined || Number.isNaN(n)
      ? '–'
      : Math.abs(n) >= 1e6
        ? (n / 1e6).toFixed(d) + 'M'
        : Math.abs(n) >= 1e4
          ? (n / 1e3).toFixed(d) + 'k'
          : Number(n.toFixed(3)).toString();
  const bytes = (n) =>
    n >= 1 << 30
      ? (n / (1 << 30)).toFixed(1) + ' GiB'
      : n >= 1 << 20
        ? (n / (1 << 20)).toFixed(1) + ' MiB'
        : n >= 1024
          ? (n / 1024).toFixed(1) + ' KiB'
          : n + ' B';
  const ago = (ms) => {
    if (!ms) return 'never';
    const s = Math.max(0, (Date.now() - ms) / 1000);
    return s < 60
      ? Math.round(s) + ' s ago'
      : s < 3600
        ? Math.round(s / 60) + ' min ago'
        : s < 86400
          ? Math.round(s / 3600) + ' h ago'
          : Math.round(s / 86400) + ' d ago';
  };
  const rate = (n) => (n >= 1000 ? fmt(n) : n.toFixed(1));
  const pill = (cls, text) => `<span class="pill ${cls}">${esc(text)}</span>`;
  const state = (s) =>
    pill(s === 'connected' || s === true ? 'ok' : s === 'failing' || s === false ? 'err' : 'warn', s === true ? 'up' : s === false ? 'down' : s);
  const quality = (q) =>
    q === null || q === undefined ? '–' : q === 0 ? pill('ok', 'good') : q >= 0x80000000 ? pill('err', 'bad') : pill('warn', 'uncertain');

  async function get(path) {
    const r = await fetch(path, { headers: { accept: 'application/json' } });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${(await r.text()).slice(0, 200)}`);
    return r.json();
  }

  function sparkline(canvas, points) {
    const w = canvas.width,
      h = canvas.height,
      ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    if (points.length < 2) return;
    let lo = Infinity,
      hi = -Infinity;
    for (const [, v] of points) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    if (hi === lo) {
      hi += 1;
      lo -= 1;
    }
    const t0 = points[0][0],
      t1 = points[points.length - 1][0];
    ctx.strokeStyle = getComputedStyle(document.body).getPropertyValue('--accent') || '#1f6feb';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach(([t, v], i) => {
      const x = ((t - t0) / (t1 - t0 || 1)) * (w - 2) + 1,
        y = h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
  }

  // ---- pages ----

  function renderOverview() {
    const o = overview;
    if (!o) return;
    const att = o.attention.length
      ? `<ul class="attention">${o.attention.map((a) => `<li class="${a.level === 'error' ? 'err' : 'warn'}"><b>${esc(a.what)}</b>: ${esc(a.detail)}</li>`).join('')}</ul>`
      : '<p class="ok">Every part is healthy.</p>';
    const lag = (o.sinks || []).map((s) => `${esc(s.name)}: ${bytes(s.lagBytes)}`).join(', ');
    const parts = [
      ...(o.broker.listeners || []).map((l) => [
        'MQTT listener',
        `${l.type || 'tcp'} ${l.host}:${l.port}`,
        pill('ok', 'listening'),
        `${o.broker.clients} clients`,
      ]),
      ...o.sources.map((s) => [
        s.kind === 'modbus' ? 'Modbus device' : 'OPC UA server',
        s.name,
        state(s.up),
        s.last_success ? 'last read ' + ago(s.last_success) : '',
      ]),
      ...(o.sinks || []).map((s) => ['Sink', s.name, state(s.state), `${s.lagChunks} chunks behind${s.lastError ? ' · ' + s.lastError : ''}`]),
      ...(o.partners || []).map((p) => ['Partner', p.name, state(p.state), `${p.backlogRecords} records waiting${p.lastError ? ' · ' + p.lastError : ''}`]),
    ];
    main.innerHTML = `
      <h1>Overview <span class="muted" style="font-size:13px;font-weight:400">${esc(o.gateway_id)} · up ${Math.round(o.uptime_s / 60)} min</span></h1>
      <div class="card" id="attention"><h2>Needs attention</h2>${att}</div>
      <div class="grid">
        <div class="card"><div class="muted">Messages / s</div><div class="big" id="rate-messages">${rate(o.rates.messages_per_s)}</div></div>
        <div class="card"><div class="muted">Rows stored / s</div><div class="big" id="rate-rows">${rate(o.rates.rows_per_s)}</div></div>
        <div class="card"><div class="muted">Journal</div><div class="big">${bytes(o.journal.bytes)}</div><div class="muted">${o.journal.segments} segments · lag ${lag || '–'}</div></div>
        <div class="card"><div class="muted">Disk free</div><div class="big ${o.disk.low ? 'err' : ''}">${bytes(o.disk.free_bytes)}</div></div>
        <div class="card"><div class="muted">MQTT messages</div><div class="big">${fmt(o.broker.messages, 2)}</div></div>
        <div class="card"><div class="muted">Dead letters</div><div class="big">${o.dead_letters.files}</div><div class="muted">${bytes(o.dead_letters.bytes)}</div></div>
      </div>
      <div class="card"><h2>Parts</h2><table id="parts"><thead><tr><th>Kind</th><th>Name</th><th>State</th><th></th></tr></thead><tbody>
        ${parts.map((p) => `<tr><td>${esc(p[0])}</td><td>${esc(p[1])}</td><td>${p[2]}</td><td class="muted">${esc(p[3])}</td></tr>`).join('')}
      </tbody></table></div>
      <div class="card"><h2>Devices</h2><div id="overview-devices">${devices ? devices.map((d) => `<a class="pill-link" href="#/device/${encodeURIComponent(d.name)}" data-device="${esc(d.name)}">${deviceState(d)} ${esc(d.name)} <span class="muted">${ago(d.last_seen)}</span></a>`).join('') : '<span class="muted">Reading the store…</span>'}</div></div>
      <div class="card"><h2>Last warnings and errors <span class="muted">(${o.recent_total} since start)</span></h2>
        ${
          o.recent.length
            ? `<table id="recent"><tbody>${o.recent
                .map(
                  (r) =>
                    `<tr><td class="muted">${esc(new Date(r.time).toLocaleTimeString())}</td><td>${pill(r.level === 'warn' ? 'warn' : 'err', r.level)}</td><td>${esc(r.msg)}<div class="muted" style="font-size:12px">${esc(
                      Object.entries(r.fields)
                        .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
                        .join(' ')
                        .slice(0, 400),
                    )}</div></td></tr>`,
                )
                .join('')}</tbody></table>`
            : '<p class="muted">None.</p>'
        }
      </div>`;
  }

  function deviceState(d) {
    const src = overview && overview.sources.find((s) => s.name === d.name);
    if (src) return state(src.up);
    return Date.now() - d.last_seen < 60_000 ? pill('ok', 'live') : pill('warn', 'quiet');
  }

  async function renderDevices() {
    const r = await get('/api/devices');
    if (route().page !== 'devices') return;
    main.innerHTML = `<h1>Devices <span class="muted" style="font-size:13px;font-weight:400">${r.devices.length} seen</span></h1>
      <div class="card"><table id="devices"><thead><tr><th>Device</th><th>Source</th><th>State</th><th>Last seen</th><th class="num">Tags</th><th class="num">Values (15 min)</th></tr></thead><tbody>
      ${r.devices.map((d) => `<tr class="link" data-device="${esc(d.name)}"><td><a href="#/device/${encodeURIComponent(d.name)}">${esc(d.name)}</a></td><td>${esc(d.source)}</td><td>${deviceState(d)}</td><td>${ago(d.last_seen)}</td><td class="num">${d.tags.length}</td><td class="num">${d.tags.reduce((a, t) => a + t.count_15m, 0)}</td></tr>`).join('')}
      </tbody></table></div>`;
    main
      .querySelectorAll('tr[data-device]')
      .forEach((tr) => tr.addEventListener('click', () => (location.hash = '#/device/' + encodeURIComponent(tr.dataset.device))));
  }

  async function renderDevice(name) {
    const r = await get('/api/devices');
    const cur = route();
    if (cur.page !== 'device' || cur.args[0] !== name) return;
    const d = r.devices.find((x) => x.name === name);
    if (!d) {
      main.innerHTML = `<h1>${esc(name)}</h1><p class="muted">No values from this device yet.</p>`;
      return;
    }
    main.innerHTML = `<h1><a href="#/devices">Devices</a> / ${esc(d.name)} ${deviceState(d)}</h1>
      <p class="muted">${esc(d.source)} · last seen ${ago(d.last_seen)}</p>
      <div class="card"><table id="tags"><thead><tr><th>Tag</th><th class="num">Last value</th><th>Unit</th><th>Quality</th><th>At</th><th>Last 15 min</th></tr></thead><tbody>
      ${d.tags.map((t, i) => `<tr class="link" data-tag="${esc(t.tag)}"><td><a href="#/tag/${encodeURIComponent(d.name)}/${encodeURIComponent(t.tag)}">${esc(t.tag)}</a></td><td class="num value">${t.value === null ? esc(t.text || '–') : fmt(t.value)}</td><td>${esc(t.unit || '')}</td><td>${quality(t.quality)}</td><td class="muted">${ago(t.at)}</td><td><canvas class="spark" id="spark-${i}" width="160" height="28"></canvas></td></tr>`).join('')}
      </tbody></table></div>`;
    d.tags.forEach((t, i) => sparkline(document.getElementById('spark-' + i), t.spark));
    main
      .querySelectorAll('tr[data-tag]')
      .forEach((tr) => tr.addEventListener('click', () => (location.hash = `#/tag/${encodeURIComponent(name)}/${encodeURIComponent(tr.dataset.tag)}`)));
  }

  async function renderTag(device, tag, range) {
    const ranges = ['15m', '1h', '6h', '24h', '7d', '30d'];
    if (!document.getElementById('chart') || main.dataset.tag !== device + '\0' + tag) {
      main.dataset.tag = device + '\0' + tag;
      main.innerHTML = `<h1><a href="#/devices">Devices</a> / <a href="#/device/${encodeURIComponent(device)}">${esc(device)}</a> / ${esc(tag)}</h1>
        <div class="card"><div class="ranges">${ranges.map((x) => `<button data-range="${x}">${x}</button>`).join(' ')} <span class="muted" id="chart-info"></span></div><div id="chart"></div></div>`;
      main
        .querySelectorAll('button[data-range]')
        .forEach((b) =>
          b.addEventListener('click', () => (location.hash = `#/tag/${encodeURIComponent(device)}/${encodeURIComponent(tag)}?range=${b.dataset.range}`)),
        );
    }
    main.querySelectorAll('button[data-range]').forEach((b) => b.classList.toggle('on', b.dataset.range === range));
    const r = await get(`/api/series?device=${encodeURIComponent(device)}&tag=${encodeURIComponent(tag)}&range=${range}`);
    const cur = route();
    if (cur.page !== 'tag' || cur.args[0] !== device || cur.args[1] !== tag) return;
    const t = r.data.map((x) => x[0] / 1000),
      lo = r.data.map((x) => x[1]),
      avg = r.data.map((x) => x[2]),
      hi = r.data.map((x) => x[3]);
    document.getElementById('chart-info').textContent = `${r.data.length} points from ${r.source} in ${r.query_ms} ms${r.unit ? ' · ' + r.unit : ''}`;
    const el = document.getElementById('chart');
    const opts = {
      width: Math.max(320, el.clientWidth || 800),
      height: 320,
      scales: { x: { time: true, range: [r.from / 1000, r.to / 1000] } },
      series: [{}, { label: 'min', stroke: '#8b949e', width: 1 }, { label: 'avg', stroke: '#1f6feb', width: 2 }, { label: 'max', stroke: '#8b949e', width: 1 }],
      bands: [{ series: [3, 1], fill: 'rgba(31,111,235,0.12)' }],
      axes: [{}, { label: r.unit || '' }],
    };
    if (chart) chart.destroy();
    chart = new uPlot(opts, [t, lo, avg, hi], el);
    el.dataset.points = String(r.data.length);
  }

  async function renderDeadLetters() {
    const r = await get('/api/deadletters');
    if (route().page !== 'deadletters') return;
    const reasons = Object.entries(r.reasons || {}).sort((a, b) => b[1] - a[1]);
    main.innerHTML = `<h1>Dead letters</h1>
      <div class="card"><p><b id="dl-files">${r.files}</b> file(s), ${bytes(r.bytes)}: rows the store refused, kept under state_dir/deadletter.</p>
        <button id="replay" ${r.files && session.replay ? '' : 'disabled'}>Replay into the journal…</button>
        ${session.replay ? '' : '<span class="muted"> Replay needs a logged-in user (http.users), or <code>fieldgate deadletter replay</code> on the box.</span>'}
        <span id="replay-result" class="muted"></span></div>
      <div class="card"><h2>Reasons (newest files)</h2>${reasons.length ? `<table><tbody>${reasons.map(([k, n]) => `<tr><td>${esc(k)}</td><td class="num">${n}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">None.</p>'}</div>
      <div class="card"><h2>Sample</h2>${(r.sample || []).map((s) => `<pre>${esc(JSON.stringify(s, null, 1))}</pre>`).join('') || '<p class="muted">None.</p>'}</div>`;
    const b = document.getElementById('replay');
    b.addEventListener('click', async () => {
      if (!confirm(`Replay ${r.files} dead-letter file(s) into the journal? The rows are tried again; files are removed once journaled.`)) return;
      b.disabled = true;
      const res = await fetch('/api/deadletters/replay', { method: 'POST', headers: { 'x-csrf-token': session.csrf || '' } });
      const body = await res.json();
      document.getElementById('replay-result').textContent = res.ok ? ` replayed ${body.replayed} from ${body.files} file(s)` : ` refused: ${body.error}`;
    });
  }

  function renderPartners() {
    const ps = (overview && overview.partners) || [];
    main.innerHTML = `<h1>Partners</h1><div class="card"><table id="partners"><thead><tr><th>Partner</th><th>Target</th><th>State</th><th class="num">Backlog (records)</th><th class="num">Backlog (s)</th><th>Last error</th></tr></thead><tbody>
      ${ps.map((p) => `<tr><td>${esc(p.name)}</td><td>${esc(p.target)}</td><td>${state(p.state)}</td><td class="num">${p.backlogRecords}</td><td class="num">${fmt(p.backlogSeconds)}</td><td class="muted">${esc(p.lastError || '')}</td></tr>`).join('')}
      </tbody></table></div>`;
  }

  // ---- routing and live updates ----

  function route() {
    const h = location.hash.replace(/^#\/?/, '');
    const [path, q] = h.split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    return { page: parts[0] || 'overview', args: parts.slice(1), query: new URLSearchParams(q || '') };
  }

  async function show() {
    clearInterval(timer);
    const r = route();
    document
      .querySelectorAll('nav a')
      .forEach((a) => a.classList.toggle('on', a.dataset.nav === (r.page === 'device' || r.page === 'tag' ? 'devices' : r.page)));
    if (r.page !== 'tag') {
      delete main.dataset.tag;
      if (chart) chart.destroy();
      chart = null;
    }
    const each = (fn, ms) => {
      const run = () => fn().catch((e) => (main.innerHTML = `<p class="err">${esc(e.message)}</p>`));
      void run();
      timer = setInterval(run, ms);
    };
    if (r.page === 'overview')
      each(async () => {
        devices = (await get('/api/devices')).devices;
        if (route().page === 'overview') renderOverview();
      }, 5000);
    else if (r.page === 'devices') each(renderDevices, 5000);
    else if (r.page === 'device') each(() => renderDevice(r.args[0]), 5000);
    else if (r.page === 'tag') each(() => renderTag(r.args[0], r.args[1], r.query.get('range') || '1h'), 15000);
    else if (r.page === 'deadletters') each(renderDeadLetters, 10000);
    else if (r.page === 'partners') renderPartners();
    else main.innerHTML = '<p>Not a page.</p>';
  }

  function live() {
    const es = new EventSource('/api/events');
    const dot = document.getElementById('live');
    es.addEventListener('overview', (e) => {
      overview = JSON.parse(e.data);
      dot.classList.add('on');
      document.getElementById('nav-partners').hidden = !(overview.partners && overview.partners.length);
      const p = route().page;
      if (p === 'overview') renderOverview();
      else if (p === 'partners') renderPartners();
    });
    es.onerror = () => dot.classList.remove('on');
  }

  window.addEventListener('hashchange', show);
  get('/api/session')
    .then((s) => {
      session = s;
      document.getElementById('who').textContent = s.user ? s.user : s.auth ? '' : 'anonymous';
    })
    .catch(() => undefined)
    .finally(() => {
      live();
      show();
    });
})();
