// Runs handlebars.js's own spec files with a recording test bench instead of mocha and chai,
// and renders every recorded template with the installed handlebars itself. Prints JSON.
// A SPEC_FILE LABEL=FILE.json holds cases in the Mustache spec's format (mustache/spec, specs/*.json).
// Usage (driven by generate.py): node harness.js HANDLEBARS_MODULE SPEC_DIR OUT_JSON SPEC_FILE...
'use strict';

var fs = require('fs');
var path = require('path');
var Handlebars = require(process.argv[2]);
var specDir = process.argv[3];
var outFile = process.argv[4];
var specFiles = process.argv.slice(5);

var cases = [];
var names = [];
var hooks = [[]];
var current = null; // { file, test }
var BUILTIN = Handlebars.create();
function added(registry, builtin) {
  return Object.keys(registry).filter(function(name) { return !(name in builtin); }).length;
}

// Anything a spec calls that is not a template case does nothing.
function inert() {
  return new Proxy(function() {}, {
    get: function(target, key) {
      return key === 'then' ? undefined : inert();
    },
    apply: function() {
      return inert();
    }
  });
}

function plain(value, seen) {
  // A JSON copy of the input, or a reason why the input is not data.
  if (value === undefined || value === null) return { value: null };
  var type = typeof value;
  if (type === 'function') return { skip: 'custom JS: a function in the input' };
  if (type === 'number' && !isFinite(value)) return { skip: 'custom JS: a non-finite number' };
  if (type !== 'object') return { value: value };
  var proto = Object.getPrototypeOf(value);
  var isArray = Array.isArray(value);
  if (!isArray && proto !== Object.prototype && proto !== null) {
    return { skip: 'custom JS: an object with a prototype in the input' };
  }
  if (seen.indexOf(value) >= 0) return { skip: 'custom JS: a cyclic input' };
  seen = seen.concat([value]);
  var out = isArray ? [] : {};
  var keys = isArray ? Array.from(value.keys()) : Object.keys(value);
  if (isArray && keys.some(function(i) { return !(i in value); })) {
    return { skip: 'custom JS: a sparse array (JSON has no holes)' };
  }
  for (var i = 0; i < keys.length; i++) {
    var child = value[keys[i]];
    if (child === undefined && !isArray) continue; // JSON has no undefined: a missing key
    var copy = plain(child, seen);
    if (copy.skip) return copy;
    if (isArray) out.push(copy.value);
    else out[keys[i]] = copy.value;
  }
  return { value: out };
}

function run(template, input, options) {
  try {
    var env = Handlebars.create();
    return { output: env.compile(template, options)(input) };
  } catch (error) {
    return { error: String(error && error.message).split('\n')[0] };
  }
}

function record(bench, expectsError) {
  var entry = {
    file: current.file,
    test: current.test,
    template: bench.templateAsString,
    input: null,
    skip: null
  };
  var reasons = [
    [Object.keys(bench.partials).length || added(handlebarsEnv.partials, BUILTIN.partials), 'partials'],
    [Object.keys(bench.decorators).length || added(handlebarsEnv.decorators, BUILTIN.decorators), 'decorators'],
    [Object.keys(bench.helpers).length || added(handlebarsEnv.helpers, BUILTIN.helpers), 'custom JS helpers'],
    [Object.keys(bench.compileOptions).length, 'compile options (another dialect: ' +
      Object.keys(bench.compileOptions).join(', ') + ')'],
    [Object.keys(bench.runtimeOptions).length, 'runtime options (data, helpers or access rules passed by the caller)']
  ];
  // Partials and decorators written in the template itself: {{> p}}, {{#> p}}, {{#*inline}}.
  if (/\{\{~?\s*(>|#>)/.test(bench.templateAsString)) entry.skip = 'partials';
  else if (/\{\{~?\s*#?\*/.test(bench.templateAsString)) entry.skip = 'decorators';
  for (var i = 0; i < reasons.length && !entry.skip; i++) {
    if (reasons[i][0]) entry.skip = reasons[i][1];
  }
  var copy = plain(bench.input, []);
  if (copy.skip) entry.skip = entry.skip || copy.skip;
  else entry.input = copy.value;
  if (!entry.skip && entry.input !== null && (typeof entry.input !== 'object' || Array.isArray(entry.input))) {
    entry.skip = 'the top context is not an object (a prompt scope is a mapping of names)';
  }
  if (!entry.skip) {
    // The spec's own input, not the JSON copy: undefined and missing keys render alike.
    var result = run(entry.template, bench.input, {});
    var noEscape = run(entry.template, bench.input, { noEscape: true });
    entry.expected = result.output === undefined ? null : result.output;
    entry.expected_no_escape = noEscape.output === undefined ? null : noEscape.output;
    entry.error = result.error || null;
    entry.spec_expects_error = !!expectsError;
  }
  cases.push(entry);
}

function Bench(template) {
  this.templateAsString = template;
  this.helpers = {};
  this.partials = {};
  this.decorators = {};
  this.input = {};
  this.compileOptions = {};
  this.runtimeOptions = {};
}
Bench.prototype.withInput = function(input) { this.input = input; return this; };
Bench.prototype.withHelper = function(name, fn) { this.helpers[name] = fn; return this; };
Bench.prototype.withHelpers = function(h) { Object.assign(this.helpers, h); return this; };
Bench.prototype.withPartial = function(name, p) { this.partials[name] = p; return this; };
Bench.prototype.withPartials = function(p) { Object.assign(this.partials, p); return this; };
Bench.prototype.withDecorator = function(name, d) { this.decorators[name] = d; return this; };
Bench.prototype.withDecorators = function(d) { Object.assign(this.decorators, d); return this; };
Bench.prototype.withCompileOptions = function(o) { this.compileOptions = o || {}; return this; };
Bench.prototype.withRuntimeOptions = function(o) { this.runtimeOptions = o || {}; return this; };
Bench.prototype.withMessage = function() { return this; };
Bench.prototype.toCompileTo = function() { record(this, false); };
Bench.prototype.toThrow = function() { record(this, true); };

global.Handlebars = Handlebars;
global.handlebarsEnv = Handlebars.create();
global.CompilerContext = {
  compile: function(t, o) { return handlebarsEnv.compile(t, o); },
  compileWithPartial: function(t, o) { return handlebarsEnv.compile(t, o); }
};
global.expectTemplate = function(template) { return new Bench(template); };
global.shouldCompileTo = function(template, hashOrArray, expected) {
  global.shouldCompileToWithPartials(template, hashOrArray, false, expected);
};
global.shouldCompileToWithPartials = function(template, hashOrArray, partials) {
  var bench = new Bench(template);
  if (Array.isArray(hashOrArray)) {
    bench.input = hashOrArray[0];
    Object.assign(bench.helpers, hashOrArray[1] || {});
    Object.assign(bench.partials, hashOrArray[2] || {});
    if (hashOrArray[3] !== undefined) bench.compileOptions = { compat: hashOrArray[3] };
  } else if (hashOrArray && hashOrArray.hash) {
    bench.input = hashOrArray.hash;
    bench.runtimeOptions = { data: true };
  } else {
    bench.input = hashOrArray;
  }
  if (partials) bench.partials.partial = partials;
  record(bench, false);
};
global.expect = inert();
global.sinon = inert();
global.equal = global.equals = global.shouldThrow = function() {};
global.describe = function(name, body) {
  names.push(name);
  hooks.push([]);
  try { body(); } finally { names.pop(); hooks.pop(); }
};
global.describe.skip = global.xdescribe = function() {};
global.beforeEach = function(fn) { hooks[hooks.length - 1].push(fn); };
global.afterEach = global.before = global.after = function() {};
global.it = function(name, body) {
  current.test = names.concat([name]).join(' > ');
  try {
    hooks.forEach(function(level) { level.forEach(function(fn) { fn.call({}); }); });
    body.call({});
  } catch (error) {
    // Assertions about JS APIs (not template cases) may fail against the inert stubs.
  }
};
global.it.skip = global.xit = function() {};

function mustacheSpec(label, file) {
  var spec = JSON.parse(fs.readFileSync(file, 'utf8'));
  current = { file: label };
  spec.tests.forEach(function(test) {
    current.test = test.name;
    var bench = new Bench(test.template);
    bench.input = test.data;
    if (test.partials) bench.partials = test.partials;
    record(bench, false);
  });
}

specFiles.forEach(function(file) {
  // LABEL=FILE.json: cases in the Mustache spec's format, reported under LABEL.
  if (file.endsWith('.json')) return mustacheSpec(file.split('=')[0], file.split('=').slice(1).join('='));
  current = { file: 'spec/' + file };
  require(path.resolve(specDir, file));
});

fs.writeFileSync(outFile, JSON.stringify({
  version: Handlebars.VERSION,
  cases: cases
}));
