// Validates every dashboard in grafana/dashboards against the JSON schema
// generated from @grafana/schema, plus rules the types cannot express.
import Ajv from 'ajv';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dashboardSchema } from './gen-dashboard-schema.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(repo, 'grafana/dashboards');
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(dashboardSchema());
let failed = 0;
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
if (files.length === 0) throw new Error('no dashboards found');
for (const f of files) {
  const d = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  const problems = [];
  if (!validate(d)) problems.push(...validate.errors.map((e) => `${e.instancePath} ${e.message}`));
  if (d.schemaVersion < 36) problems.push(`schemaVersion ${d.schemaVersion} is older than Grafana 10's`);
  const vars = (d.templating?.list ?? []).map((v) => v.name);
  for (const want of ['datasource', 'job', 'instance']) if (!vars.includes(want)) problems.push(`missing variable ${want}`);
  const ids = new Set();
  for (const p of d.panels ?? []) {
    if (p.type !== 'row' && !(p.targets?.length > 0)) problems.push(`panel "${p.title}" has no query`);
    for (const t of p.targets ?? []) if (!t.expr) problems.push(`panel "${p.title}" target ${t.refId} has no expr`);
    const key = JSON.stringify(p.gridPos);
    if (ids.has(key)) problems.push(`panel "${p.title}" overlaps another at ${key}`);
    ids.add(key);
  }
  if (problems.length) {
    failed++;
    console.error(`${f}: INVALID\n  ${problems.join('\n  ')}`);
  } else {
    console.log(`${f}: valid (${d.panels.length} panels)`);
  }
}
process.exit(failed ? 1 : 0);
