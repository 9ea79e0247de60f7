import type { EventRecord, RootRecord } from '../store/store';
import type { RepositoryStatus } from '../watch/status';
import { humanDuration } from '../lib/duration';

type History = Record<string, { roots: RootRecord[]; events: EventRecord[] }>;

/** Everything that reaches the page from data is escaped: role names and messages come from upstreams. */
const HTML_ESCAPES: Partial<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (v: string | number | null | undefined): string => String(v ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{background:#1d232b;color:#fff;padding:12px 24px;display:flex;gap:16px;align-items:baseline}
header h1{font-size:18px;margin:0} header .overall{margin-left:auto}
main{padding:16px 24px;display:grid;gap:16px}
section.repo{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px}
h2{margin:0 0 8px;font-size:17px} h3{font-size:14px;margin:16px 0 6px;color:#4a5563}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{font-weight:600;color:#4a5563;font-size:12px;text-transform:uppercase}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.ok{background:#e3f5e8;color:#17692f}.warning{background:#fff4d6;color:#8a5a00}.critical{background:#fde2e1;color:#a11b16}.expired{background:#a11b16;color:#fff}
.countdown{font-variant-numeric:tabular-nums}
.meta{color:#5d6775;font-size:13px}
ol.timeline{list-style:none;margin:0;padding:0;border-left:2px solid #dde1e6}
ol.timeline li{margin:0 0 8px 12px;position:relative} ol.timeline li:before{content:"";position:absolute;left:-18px;top:6px;width:10px;height:10px;border-radius:50%;background:#8b96a5}
ol.timeline li.rotation:before{background:#d08a00}
code{font-size:12px;background:#f1f3f5;padding:0 3px;border-radius:3px}
`;

// Counts down every [data-deadline] once a second. Time is the server's (what expiry is judged
// by), carried forward by the browser's elapsed time, so a skewed desktop clock cannot mislead.
const SCRIPT = `
(function(){
  var serverNow=Date.parse(document.body.getAttribute('data-now')),loaded=Date.now();
  function fmt(s){var a=Math.abs(s),d=Math.floor(a/86400),h=Math.floor(a%86400/3600),m=Math.floor(a%3600/60),x=Math.floor(a%60);
    var t=d>0?d+'d '+h+'h '+m+'m':h>0?h+'h '+m+'m '+x+'s':m+'m '+x+'s';return s<0?'expired '+t+' ago':t;}
  function tick(){var now=serverNow+(Date.now()-loaded);document.querySelectorAll('[data-deadline]').forEach(function(el){
    var t=Date.parse(el.getAttribute('data-deadline'));if(!isNaN(t))el.textContent=fmt(Math.floor((t-now)/1000));});}
  tick();setInterval(tick,1000);
})();`;

function badge(state: string): string {
  return `<span class="badge ${esc(state)}">${esc(state)}</span>`;
}

function repositorySection(s: RepositoryStatus, history: History[string] | undefined): string {
  const stateOf = (item: string) => s.items.find((i) => i.item === item)?.state ?? 'ok';
  const roles = s.roles
    .map(
      (r) => `<tr data-role="${esc(r.role)}" class="role"><td>${esc(r.role)}</td><td>${r.version}</td><td>${esc(r.expires)}</td>
        <td class="countdown" data-deadline="${esc(r.expires)}">${r.expired ? 'expired' : esc(humanDuration(r.expiresInSeconds))}</td><td>${badge(stateOf(`role:${r.role}`))}</td></tr>`,
    )
    .join('');
  // A role the last run could not mirror is listed with its reason, not only as a badge.
  const failed = new Set((s.generation?.failedRoles ?? []).map((f) => `role:${f.role}`));
  const others = s.items
    .filter((i) => i.kind !== 'role' || failed.has(i.item))
    .map((i) => `<tr data-item="${esc(i.item)}"><td>${esc(i.item)}</td><td>${badge(i.state)}</td><td>${esc(i.message)}</td></tr>`)
    .join('');
  const last = s.lastSync;
  const lastLine = last
    ? `last sync <b>${esc(last.outcome)}</b> at ${esc(last.finishedAt ?? last.startedAt)} (${last.requests} requests, ${last.bytes} bytes)${
        last.error ? ` — <code>${esc(last.error.code)}</code>${last.error.role ? ` [${esc(last.error.role)}]` : ''} ${esc(last.error.message)}` : ''
      }`
    : 'never synced';
  const roots = (history?.roots ?? [])
    .slice()
    .reverse()
    .map((r) => {
      const rotation = history?.events.find((e) => e.kind === 'root-rotation' && e.data.toVersion === r.version);
      const changes = (rotation?.data.changes as { role: string; keysAdded: string[]; keysRemoved: string[]; thresholdFrom: number | null; thresholdTo: number | null }[] | undefined) ?? [];
      const detail = changes
        .map((c) => `${esc(c.role)}: +${c.keysAdded.length} −${c.keysRemoved.length} keys${c.thresholdFrom !== c.thresholdTo ? `, threshold ${c.thresholdFrom ?? '–'} → ${c.thresholdTo ?? '–'}` : ''}`)
        .join('; ');
      return `<li class="${rotation ? 'rotation' : ''}"><b>root v${r.version}</b> <span class="meta">first seen ${esc(r.firstSeenAt)}, expires ${esc(r.expires)}</span>${detail ? `<br>${detail}` : ''}</li>`;
    })
    .join('');
  const events = (history?.events ?? [])
    .map((e) => `<tr><td>${esc(e.at)}</td><td>${esc(e.kind)}</td><td>${badge(e.severity === 'info' ? 'ok' : e.severity)}</td><td>${esc(eventText(e))}</td></tr>`)
    .join('');
  return `<section class="repo" id="repo-${esc(s.name)}">
  <h2>${esc(s.name)}${s.default ? ' <span class="meta">(default)</span>' : ''} ${badge(s.state)}</h2>
  <div class="meta">upstream ${esc(s.upstream)}${s.upstreamReachable === false ? ' — <b>UNREACHABLE</b>, serving what is held' : ''}</div>
  <div class="meta">${s.generation ? `generation ${s.generation.id} from ${esc(s.generation.createdAt)}: ${s.generation.files} files, ${s.generation.bytes} bytes` : '<b>holds nothing yet</b>'}</div>
  <div class="meta">${lastLine}</div>
  <h3>Roles</h3>
  <table><thead><tr><th>role</th><th>version</th><th>expires</th><th>left</th><th>state</th></tr></thead><tbody>${roles || '<tr><td colspan="5">nothing held</td></tr>'}</tbody></table>
  ${others ? `<h3>Trust material and freshness</h3><table><tbody>${others}</tbody></table>` : ''}
  <h3>Root history</h3><ol class="timeline">${roots || '<li>none</li>'}</ol>
  <h3>Recent events</h3><table><thead><tr><th>at</th><th>kind</th><th>severity</th><th>what</th></tr></thead><tbody>${events || '<tr><td colspan="4">none</td></tr>'}</tbody></table>
</section>`;
}

/** An event's own message; one stored as something else than text is shown as its JSON. */
function eventText(e: EventRecord): string {
  const message = e.data.message;
  if (message === undefined || message === null) return summarize(e);
  return typeof message === 'string' ? message : JSON.stringify(message);
}

function summarize(e: EventRecord): string {
  if (e.kind === 'root-rotation') return `root v${String(e.data.fromVersion)} → v${String(e.data.toVersion)}`;
  if (e.kind === 'trusted-root-change') return 'trusted_root.json trust material changed';
  return e.kind;
}

/** The page an operator keeps open. Self-contained: no external asset, for air-gapped sites. */
export function renderStatusPage(statuses: RepositoryStatus[], history: History, now: Date): string {
  const overall = ['expired', 'critical', 'warning', 'ok'].find((s) => statuses.some((r) => r.state === s)) ?? 'ok';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>tuf-mirror — ${esc(overall)}</title><style>${STYLE}</style></head>
<body data-now="${esc(now.toISOString())}"><header><h1>tuf-mirror</h1><span class="meta">rendered ${esc(now.toISOString())}</span><span class="overall">${badge(overall)}</span></header>
<main>${statuses.map((s) => repositorySection(s, history[s.name])).join('\n')}</main>
<script>${SCRIPT}</script></body></html>`;
}
