// Generates a JSON schema of Grafana's classic dashboard model (schemaVersion
// 39, Grafana 10+) from the @grafana/schema package's TypeScript types.
import { createGenerator } from 'ts-json-schema-generator';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const types = path.join(here, 'node_modules/@grafana/schema/dist/types/raw/dashboard/x/types.gen.d.ts');
export function dashboardSchema() {
  return createGenerator({ path: types, type: 'Dashboard', skipTypeCheck: true, additionalProperties: true, expose: 'export' }).createSchema('Dashboard');
}
