// The dashboard's controller: sign-in, filters, and one loader per section.
import { gql, token } from './api.js';
import { count, days, money, percent, render, setState, showError, showMessage } from './charts.js';
import { CONVERSION_TRACE, CONVERTED_LEADS, FILTER_OPTIONS, ME, PIPELINE, kpiQuery } from './queries.js';

const $ = (selector) => document.querySelector(selector);
const section = (name) => document.querySelector(`section[data-section="${name}"]`);

// ---- filters ------------------------------------------------------------------------------

const startOfDay = (date) => (date ? `${date}T00:00:00.000Z` : null);
const endOfDay = (date) => (date ? `${date}T23:59:59.999Z` : null);

/** What the form says, as the API's arguments. */
const readFilters = () => {
  const f = {
    from: startOfDay($('#from').value),
    to: startOfDay($('#to').value),
    source: $('#source').value || null,
    campaign: $('#campaign').value || null,
    ownerId: $('#owner').value || null,
    asOf: endOfDay($('#as-of').value),
    knownAt: endOfDay($('#known-at').value),
  };
  // kpis has only groupBy: a cut is asked for as a dimension, and its group's row is kept.
  f.groupBy = [f.source && 'SOURCE', f.campaign && 'CAMPAIGN', f.ownerId && 'OWNER'].filter(Boolean);
  f.matches = ({ group }) =>
    (!f.source || group.source === f.source) &&
    (!f.campaign || group.campaign === f.campaign) &&
    (!f.ownerId || group.ownerId === f.ownerId);
  return f;
};

const isoDate = (date) => date.toISOString().slice(0, 10);

const setDefaultPeriod = () => {
  const now = new Date();
  if (!$('#from').value) $('#from').value = isoDate(new Date(Date.UTC(now.getUTCFullYear() - 1, now.getUTCMonth(), 1)));
  if (!$('#to').value) $('#to').value = isoDate(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)));
};

const fillSelect = (select, values, label = (v) => v) => {
  const chosen = select.value;
  const all = [...new Set([...values, ...(chosen ? [chosen] : [])])].sort();
  select.replaceChildren(new Option('all', ''), ...all.map((value) => new Option(label(value), value)));
  select.value = chosen;
};

const loadFilterOptions = async (f) => {
  try {
    const data = await gql(FILTER_OPTIONS, { from: f.from, to: f.to });
    const values = (rows, key) => rows.leadFunnel.map((row) => row.group[key]).filter((v) => v !== null);
    fillSelect($('#source'), values(data.bySource, 'source'));
    fillSelect($('#campaign'), values(data.byCampaign, 'campaign'));
    fillSelect($('#owner'), values(data.byOwner, 'ownerId'));
  } catch {
    // A role that may not read kpis: the cut lists stay as they are; the sections say why.
  }
};

// ---- sections -----------------------------------------------------------------------------

const kpiVariables = (f, groupBy) => ({ from: f.from, to: f.to, groupBy, ...(f.knownAt ? { knownAt: f.knownAt } : {}) });
const kpiSource = (f) => (f.knownAt ? 'retrospective' : 'kpis');
const caption = (f) => (f.knownAt ? `As known at ${f.knownAt} (replayed from the event log).` : '');

/** The single row of the chosen cut (groups without facts are absent: null). */
const loadKpiRow = async (part, key, f) => {
  const data = await gql(kpiQuery(part, f), kpiVariables(f, f.groupBy));
  return data.report[key].find(f.matches) ?? null;
};

const loaders = {
  async funnel(f) {
    const row = await loadKpiRow('funnel', 'leadFunnel', f);
    if (!row) return showMessage(section('funnel'), 'No lead captured in this period and cut.');
    const steps = [
      ['captured', 'Captured'],
      ['contacted', 'Contacted (reached)'],
      ['reachedMql', 'MQL (qualified at all)'],
      ['reachedSql', 'SQL'],
      ['converted', 'Converted'],
    ];
    render(section('funnel'), {
      caption: `Conversion ratio ${percent(row.conversionRatio)}. ${caption(f)}`,
      chart: { labels: steps.map(([, label]) => label), datasets: [{ label: 'Lead cycles', data: steps.map(([k]) => row[k]) }] },
      table: {
        columns: [{ field: 'value', label: 'Value' }],
        rows: [
          ...steps.map(([key, label]) => ({ key, label, values: { value: row[key] } })),
          { key: 'disqualified', label: 'Disqualified', values: { value: row.disqualified } },
          { key: 'contactRate', label: 'Contact rate', values: { value: row.contactRate } },
          { key: 'mqlRate', label: 'MQL rate', values: { value: row.mqlRate } },
          { key: 'sqlRate', label: 'SQL rate', values: { value: row.sqlRate } },
          { key: 'conversionRatio', label: 'Conversion ratio', values: { value: row.conversionRatio } },
        ],
      },
    });
    formatRatios(section('funnel'), ['contactRate', 'mqlRate', 'sqlRate', 'conversionRatio']);
  },

  async disqualifications(f) {
    const row = await loadKpiRow('disqualifications', 'disqualificationReasons', f);
    if (!row || row.reasons.length === 0) return showMessage(section('disqualifications'), 'No disqualification in this period and cut.');
    render(section('disqualifications'), {
      caption: `${row.total} disqualified. ${caption(f)}`,
      chart: { indexAxis: 'y', labels: row.reasons.map((r) => r.reason.label), datasets: [{ label: 'Disqualifications', data: row.reasons.map((r) => r.count) }] },
      table: {
        columns: [{ field: 'count', label: 'Count' }, { field: 'share', label: 'Share', format: percent }],
        rows: row.reasons.map((r) => ({ key: r.reason.code, label: r.reason.label, values: { count: r.count, share: r.share } })),
      },
    });
  },

  // One request feeds the three loss charts (by reason, competitor, stage).
  async losses(f) {
    const names = ['lossReasons', 'lossCompetitors', 'lossStages'];
    const row = await loadKpiRow('losses', 'lossReasons', f);
    if (!row || row.total === 0) {
      for (const name of names) showMessage(section(name), 'No opportunity lost in this period and cut.');
      return;
    }
    const currency = row.amount.currency;
    const slices = {
      lossReasons: row.reasons.map((s) => ({ key: s.reason.code, label: s.reason.label, ...s })),
      lossCompetitors: row.competitors.map((s) => ({ key: s.competitor ?? '(none)', label: s.competitor ?? '(none)', ...s })),
      lossStages: row.stages.map((s) => ({ key: s.stage, label: s.label, ...s })),
    };
    for (const name of names) {
      render(section(name), {
        caption: name === 'lossReasons' ? `${row.total} lost, ${money(row.amount.amount)} ${currency}. ${caption(f)}` : caption(f),
        chart: {
          indexAxis: 'x',
          labels: slices[name].map((s) => s.label),
          datasets: [
            { label: 'Count', data: slices[name].map((s) => s.count) },
            { label: `Value (${currency})`, data: slices[name].map((s) => Number(s.amount.amount)), axis: 'y1' },
          ],
          yTitle: 'count',
          y1Title: currency,
        },
        table: {
          columns: [
            { field: 'count', label: 'Count' },
            { field: 'share', label: 'Share', format: percent },
            { field: 'amount', label: `Value (${currency})`, format: money },
            { field: 'amountShare', label: 'Value share', format: percent },
          ],
          rows: slices[name].map((s) => ({ key: s.key, label: s.label, values: { count: s.count, share: s.share, amount: s.amount.amount, amountShare: s.amountShare } })),
        },
      });
      setState(section(name), 'ready', kpiSource(f));
    }
  },

  async outcomes(f) {
    const data = await gql(kpiQuery('outcomes', f), kpiVariables(f, [...f.groupBy, 'MONTH']));
    const rows = data.report.salesOutcomes.filter(f.matches).sort((a, b) => a.group.month.localeCompare(b.group.month));
    if (rows.length === 0) return showMessage(section('outcomes'), 'No opportunity closed in this period and cut.');
    render(section('outcomes'), {
      caption: caption(f),
      chart: {
        type: 'line',
        labels: rows.map((r) => r.group.month),
        datasets: [
          { label: 'Win rate (%)', data: rows.map((r) => (r.winRate === null ? null : r.winRate * 100)) },
          { label: 'Mean sales cycle (days)', data: rows.map((r) => r.averageSalesCycleDays), axis: 'y1' },
        ],
        yTitle: 'win rate %',
        y1Title: 'days',
      },
      table: {
        columns: [
          { field: 'won', label: 'Won' },
          { field: 'lost', label: 'Lost' },
          { field: 'winRate', label: 'Win rate', format: percent },
          { field: 'averageSalesCycleDays', label: 'Sales cycle', format: days },
        ],
        rows: rows.map((r) => ({ key: r.group.month, values: { won: r.won, lost: r.lost, winRate: r.winRate, averageSalesCycleDays: r.averageSalesCycleDays } })),
      },
    });
  },

  async pipeline(f) {
    const variables = { asOf: f.asOf, knownAt: f.knownAt, filter: f.ownerId ? { ownerId: f.ownerId } : null };
    const { pipeline } = await gql(PIPELINE, variables);
    const when = [f.asOf && `as of ${f.asOf}`, f.knownAt && `known at ${f.knownAt}`].filter(Boolean).join(', ') || 'now';
    render(section('pipeline'), {
      caption: `${pipeline.count} open, ${money(pipeline.amount.amount)} ${pipeline.currency} (weighted ${money(pipeline.weightedAmount.amount)}), ${when}.`,
      chart: {
        labels: pipeline.stages.map((s) => s.label),
        datasets: [
          { label: `Amount (${pipeline.currency})`, data: pipeline.stages.map((s) => Number(s.amount.amount)) },
          { label: 'Weighted', data: pipeline.stages.map((s) => Number(s.weightedAmount.amount)) },
        ],
      },
      table: {
        columns: [
          { field: 'count', label: 'Open' },
          { field: 'amount', label: 'Amount', format: money },
          { field: 'weightedAmount', label: 'Weighted', format: money },
        ],
        rows: pipeline.stages.map((s) => ({ key: s.stage, label: s.label, values: { count: s.count, amount: s.amount.amount, weightedAmount: s.weightedAmount.amount } })),
      },
    });
  },
};

// Ratios sit in the same one-column table as counts: show them as percentages.
const formatRatios = (target, keys) => {
  for (const key of keys) {
    const cell = target.querySelector(`tr[data-key="${key}"] td`);
    if (cell) cell.textContent = percent(cell.dataset.value === '' ? null : Number(cell.dataset.value));
  }
};

const SECTIONS_OF = { losses: ['lossReasons', 'lossCompetitors', 'lossStages'] };

const refresh = async () => {
  const f = readFilters();
  $('#filters-note').textContent = f.knownAt
    ? 'Known at: the KPI sections are replayed from the event log by `retrospective` (kpis has no knownAt); as of applies to the pipeline only.'
    : 'As of and known at apply to the pipeline; the KPI sections cover the period. Lists: not in the API yet.';
  await loadFilterOptions(f);
  await Promise.all(
    Object.entries(loaders).map(async ([name, load]) => {
      const targets = (SECTIONS_OF[name] ?? [name]).map(section);
      for (const target of targets) setState(target, 'loading');
      try {
        await load(f);
        for (const target of targets) setState(target, 'ready', name === 'pipeline' ? 'pipeline' : kpiSource(f));
      } catch (error) {
        for (const target of targets) showError(target, error);
      }
    }),
  );
  document.body.dataset.loaded = String(Number(document.body.dataset.loaded ?? 0) + 1);
};

// ---- conversion trace ----------------------------------------------------------------------

const loadConvertedLeads = async () => {
  try {
    const { leads } = await gql(CONVERTED_LEADS);
    $('#converted-leads').replaceChildren(
      ...leads.edges.map(({ node }) => new Option(node.company?.name ?? node.person?.lastName ?? node.id, node.id)),
    );
  } catch {
    // Auditors may trace but not list leads: they type the id.
  }
};

const showTrace = async (leadId) => {
  const target = section('trace');
  setState(target, 'loading');
  try {
    const { conversionTrace: trace } = await gql(CONVERSION_TRACE, { leadId });
    if (!trace) {
      showMessage(target, 'This lead has not been converted: there is nothing to trace yet.');
      setState(target, 'ready', 'conversionTrace');
      return;
    }
    const start = Date.parse(trace.events[0].occurredAt);
    const list = document.createElement('ol');
    list.className = 'timeline';
    for (const event of trace.events) {
      const item = document.createElement('li');
      item.dataset.eventId = event.id;
      item.dataset.type = event.type;
      item.dataset.occurredAt = event.occurredAt;
      if (event.id === trace.conversion.id) item.classList.add('decision');
      else if (event.causationId === trace.conversion.id) item.classList.add('caused');
      const day = ((Date.parse(event.occurredAt) - start) / 86_400_000).toFixed(1);
      const backdated = event.recordedAt !== event.occurredAt;
      item.innerHTML = '<div><span class="type"></span> <span class="stream"></span></div><div class="meta"></div>';
      item.querySelector('.type').textContent = event.type;
      item.querySelector('.stream').textContent = `on ${event.streamId} #${event.revision}`;
      item.querySelector('.meta').textContent =
        `day ${day} · occurred ${event.occurredAt} · recorded ${event.recordedAt}${backdated ? ' (back-dated)' : ''} · by ${event.actor} · correlation ${event.correlationId}`;
      if (backdated) item.querySelector('.meta').classList.add('backdated');
      list.append(item);
    }
    const summary = document.createElement('p');
    summary.className = 'muted';
    summary.textContent = `${trace.events.length} events: the lead's (blue), the conversion (green), what it caused on the account, contact and opportunity (orange).`;
    const body = target.querySelector('.body') ?? target.appendChild(Object.assign(document.createElement('div'), { className: 'body' }));
    body.replaceChildren(summary, list);
    setState(target, 'ready', 'conversionTrace');
  } catch (error) {
    showError(target, error);
  }
};

// ---- sign-in -------------------------------------------------------------------------------

const showDashboard = async () => {
  try {
    const { me } = await gql(ME);
    $('#who').textContent = `Signed in as ${me.sub} (${me.roles.join(', ') || 'no role'})`;
  } catch (error) {
    token.clear();
    $('#who').textContent = error.message;
    return;
  }
  $('#sign-in').hidden = true;
  $('#sign-out').hidden = false;
  $('#dashboard').hidden = false;
  setDefaultPeriod();
  await Promise.all([refresh(), loadConvertedLeads()]);
};

$('#sign-in').addEventListener('submit', (event) => {
  event.preventDefault();
  const pasted = $('#token').value.trim().replace(/^Bearer\s+/i, '');
  if (!pasted) return;
  token.set(pasted);
  $('#token').value = '';
  showDashboard();
});

$('#sign-out').addEventListener('click', () => {
  token.clear();
  location.reload();
});

$('#filters').addEventListener('submit', (event) => {
  event.preventDefault();
  refresh();
});

$('#trace-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const leadId = $('#trace-lead').value.trim();
  if (leadId) showTrace(leadId);
});

if (token.get()) showDashboard();
