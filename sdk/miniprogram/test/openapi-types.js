'use strict';
/**
 * The server's response bodies as TypeScript, from its OpenAPI schema: test/server-types.d.ts
 * is this for the running server (scripts/server-types.js writes it, schemas.test.js fails
 * when it is stale), and index.test-d.ts checks that index.d.ts declares the same shapes.
 */

/** The server's schemas that index.d.ts declares (as User and PhoneNumber). */
const SCHEMAS = [
  'UserPublic',
  'PhoneResponse',
  'DeviceOut',
  'SessionOut',
  'SessionList',
  'DeleteAccountResponse',
];

const HEADER = [
  "// The server's response bodies, from its OpenAPI schema (GET /openapi.json). Written by",
  '// `node scripts/server-types.js`; test/schemas.test.js fails when the server has changed.',
  '// index.test-d.ts checks index.d.ts against these. Do not edit by hand.',
];

function literal(value) {
  return typeof value === 'string' ? "'" + value.replace(/['\\]/g, '\\$&') + "'" : String(value);
}

/** One JSON Schema (as FastAPI/pydantic write them) as a TypeScript type. */
function tsType(schema) {
  if (schema.$ref) return schema.$ref.split('/').pop();
  if (schema.anyOf) return schema.anyOf.map(tsType).join(' | ');
  if ('const' in schema) return literal(schema.const);
  if (schema.enum) return schema.enum.map(literal).join(' | ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const item = tsType(schema.items || {});
      return (item.includes(' | ') ? '(' + item + ')' : item) + '[]';
    }
    default:
      throw new Error('no TypeScript type for the schema ' + JSON.stringify(schema));
  }
}

function renderInterface(name, schema) {
  const required = new Set(schema.required || []);
  const lines = [];
  if (schema.description) lines.push('/** ' + schema.description.replace(/\s+/g, ' ') + ' */');
  lines.push('export interface ' + name + ' {');
  for (const [field, property] of Object.entries(schema.properties || {})) {
    const optional = required.has(field) ? '' : '?';
    lines.push('  ' + field + optional + ': ' + tsType(property) + ';');
  }
  lines.push('}');
  return lines.join('\n');
}

/** The declarations file for an OpenAPI document. */
function renderTypes(openapi) {
  const schemas = (openapi.components && openapi.components.schemas) || {};
  const parts = SCHEMAS.map(function render(name) {
    if (!schemas[name]) throw new Error('the OpenAPI schema has no ' + name);
    return renderInterface(name, schemas[name]);
  });
  return HEADER.join('\n') + '\n\n' + parts.join('\n\n') + '\n';
}

module.exports = { renderTypes, tsType };
