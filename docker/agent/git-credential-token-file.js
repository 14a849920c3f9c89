#!/usr/bin/env node
'use strict';
/**
 * git credential helper (gitcredentials(7)): answers `get` with the username from SDLC_GIT_USERNAME
 * and the token read from the file named by SDLC_GIT_TOKEN_FILE, so the token never sits in the
 * remote URL, in argv or in the environment. `store`/`erase` are ignored: the file is the truth.
 */
const fs = require('node:fs');

if (process.argv[2] !== 'get') process.exit(0);
const file = process.env.SDLC_GIT_TOKEN_FILE;
if (!file) process.exit(0);
const token = fs.readFileSync(file, 'utf8').trim();
const username = process.env.SDLC_GIT_USERNAME || 'x-access-token';
// Consume git's request on stdin (protocol, host, ...) before answering.
process.stdin.resume();
process.stdin.on('end', () => process.stdout.write(`username=${username}\npassword=${token}\n`));
