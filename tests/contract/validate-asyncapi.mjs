// SPDX-License-Identifier: LGPL-2.1-or-later
// Validates an AsyncAPI document (docs/mqtt-api.yaml) with the AsyncAPI parser: the document
// against the AsyncAPI 3.0 schema and the parser's rules, its $refs to docs/schemas/ resolved.
// Prints every finding (errors and warnings, with their place in the document) and the channels
// and operations it read; exits 1 when the parser reports an error or the document is empty.
//
//   node validate-asyncapi.mjs docs/mqtt-api.yaml
import { Parser, fromFile } from '@asyncapi/parser';
import { resolve } from 'node:path';

const SEVERITY = ['error', 'warning', 'info', 'hint'];
const path = resolve(process.argv[2] ?? 'docs/mqtt-api.yaml');
const { document, diagnostics } = await fromFile(new Parser(), path).parse();
let errors = 0;

for (const d of diagnostics) {
	if (d.severity > 1)
		continue;
	errors += d.severity === 0;
	const where = d.path.length ? d.path.join('.') : '(document)';
	const line = d.range ? `:${d.range.start.line + 1}` : '';
	console.log(`${path}${line}: ${SEVERITY[d.severity]}: ${where}: ${d.message} (${d.code})`);
}
if (document === undefined) {
	console.log(`${path}: not a valid AsyncAPI document (${errors} errors)`);
	process.exit(1);
}
const channels = document.channels();
const operations = document.operations();
const messages = document.allMessages();
let payloads = 0;
for (const m of messages)
	payloads += m.hasPayload();
console.log(`${path}: AsyncAPI ${document.version()}, ${channels.length} channels, ` +
	    `${operations.length} operations, ${messages.length} messages (${payloads} with a payload schema), ` +
	    `${errors} errors`);
process.exit(errors > 0 || channels.length === 0 || payloads === 0 ? 1 : 0);
