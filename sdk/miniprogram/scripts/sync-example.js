'use strict';
// Copies the SDK (lib/*.js) into the sample mini program. A WeChat DevTools project cannot
// require files outside its own folder, so examples/miniprogram carries this copy;
// test/example.test.js fails when the copy and lib/ differ.

const fs = require('node:fs');
const path = require('node:path');

const LIB = path.join(__dirname, '..', 'lib');
const COPY = path.join(__dirname, '..', '..', '..', 'examples', 'miniprogram', 'lib', 'wxauth');

fs.rmSync(COPY, { recursive: true, force: true });
fs.mkdirSync(COPY, { recursive: true });
for (const name of fs.readdirSync(LIB).filter((n) => n.endsWith('.js'))) {
  fs.copyFileSync(path.join(LIB, name), path.join(COPY, name));
}
console.log('copied lib/ to ' + path.relative(process.cwd(), COPY));
