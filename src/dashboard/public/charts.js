// Drawing a section: a Chart.js chart and, under it, the table of the very numbers it draws
// (each cell carries the API's value in data-value, so what is shown can be checked).

/* global Chart */
const charts = new Map();
const PALETTE = ['#3b6ea8', '#d9822b', '#2e9e5b', '#b8405e', '#7d5ba6', '#8c8c3f', '#3fa3a3', '#a0522d', '#607080', '#c49a00'];

export const percent = (value) => (value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)} %`);
export const days = (value) => (value === null || value === undefined ? '—' : `${value.toFixed(1)} d`);
export const count = (value) => String(value);
export const money = (value) => (value === null || value === undefined ? '—' : Number(value).toLocaleString('en', { maximumFractionDigits: 2 }));

const bodyOf = (section) => {
  let body = section.querySelector('.body');
  if (!body) {
    body = document.createElement('div');
    body.className = 'body';
    section.append(body);
  }
  return body;
};

export const setState = (section, state, source) => {
  section.dataset.state = state;
  if (source) section.dataset.source = source;
};

export const showError = (section, error) => {
  charts.get(section)?.destroy();
  charts.delete(section);
  const message = document.createElement('p');
  message.className = 'error';
  message.dataset.code = error.code ?? 'ERROR';
  message.textContent = error.message;
  bodyOf(section).replaceChildren(message);
  setState(section, 'error');
};

export const showMessage = (section, text) => {
  charts.get(section)?.destroy();
  charts.delete(section);
  const message = document.createElement('p');
  message.className = 'muted empty';
  message.textContent = text;
  bodyOf(section).replaceChildren(message);
};

/**
 * chart: { type, labels, datasets: [{ label, data, axis? }], percentAxis?, secondAxis? };
 * table: { columns: [{ field, label, format }], rows: [{ key, label, values: { field: value } }] }.
 */
export const render = (section, { chart, table, caption }) => {
  charts.get(section)?.destroy();
  const body = bodyOf(section);
  const holder = document.createElement('div');
  holder.className = 'chart';
  const canvas = document.createElement('canvas');
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', section.querySelector('h2')?.textContent ?? 'chart');
  holder.append(canvas);
  const parts = [holder, dataTable(table)];
  if (caption) {
    const text = document.createElement('p');
    text.className = 'muted';
    text.textContent = caption;
    parts.unshift(text);
  }
  body.replaceChildren(...parts);
  charts.set(section, new Chart(canvas, chartConfig(chart)));
};

const chartConfig = ({ type = 'bar', labels, datasets, indexAxis, yTitle, y1Title }) => ({
  type,
  data: {
    labels,
    datasets: datasets.map((dataset, i) => ({
      label: dataset.label,
      data: dataset.data,
      yAxisID: dataset.axis ?? 'y',
      type: dataset.type,
      backgroundColor: dataset.colors ?? PALETTE[i % PALETTE.length],
      borderColor: PALETTE[i % PALETTE.length],
      spanGaps: true,
    })),
  },
  options: {
    animation: false,
    maintainAspectRatio: false,
    indexAxis: indexAxis ?? 'x',
    plugins: { legend: { display: datasets.length > 1 } },
    scales: {
      y: { beginAtZero: true, title: { display: Boolean(yTitle), text: yTitle } },
      ...(datasets.some((dataset) => dataset.axis === 'y1')
        ? { y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, title: { display: Boolean(y1Title), text: y1Title } } }
        : {}),
    },
  },
});

const dataTable = ({ columns, rows }) => {
  const table = document.createElement('table');
  table.className = 'data';
  const head = table.createTHead().insertRow();
  for (const text of ['', ...columns.map((column) => column.label)]) {
    const th = document.createElement('th');
    th.textContent = text;
    head.append(th);
  }
  const tbody = table.createTBody();
  for (const row of rows) {
    const tr = tbody.insertRow();
    tr.dataset.key = row.key;
    const th = document.createElement('th');
    th.textContent = row.label ?? row.key;
    tr.append(th);
    for (const column of columns) {
      const value = row.values[column.field];
      const td = tr.insertCell();
      td.dataset.field = column.field;
      td.dataset.value = value === null || value === undefined ? '' : String(value);
      td.textContent = (column.format ?? count)(value);
    }
  }
  return table;
};
