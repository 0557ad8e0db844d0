// Validates an OpenAPI document read from stdin (e.g. curl -s $BASE/docs-json | node scripts/validate-openapi.mjs)
// with @seriousme/openapi-schema-validator, an ES module jest does not load: prints {valid, version, errors} as JSON.
import { Validator } from '@seriousme/openapi-schema-validator';

let text = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) text += chunk;
const validator = new Validator();
const result = await validator.validate(JSON.parse(text));
process.stdout.write(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.valid ? [] : result.errors }));
