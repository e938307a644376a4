//! Table-driven checker cases: each expression with the exact output type, or the exact errors.

mod check_common;

use kro_cel::Checker;

/// `(expression, expected)`: a CEL type in CEL notation, or `!` followed by the errors joined
/// with `; `.
const CASES: &[(&str, &str)] = &[
    // Literals.
    ("1", "int"),
    ("1u", "uint"),
    ("1.5", "double"),
    ("'a'", "string"),
    ("b'a'", "bytes"),
    ("true", "bool"),
    ("null", "null_type"),
    ("[1, 2]", "list(int)"),
    ("[]", "list(dyn)"),
    ("[1, 'a']", "list(dyn)"),
    ("{'a': 1}", "map(string, int)"),
    ("{}", "map(dyn, dyn)"),
    ("{'a': 1, 'b': 'x'}", "map(string, dyn)"),
    ("{1: true}", "map(int, bool)"),
    ("[[1], [2]]", "list(list(int))"),
    ("{'a': [1]}", "map(string, list(int))"),
    (
        "{[1]: 2}",
        "!map keys must be string, int, uint or bool, found \"list(int)\"",
    ),
    // Identifiers and fields.
    ("schema.spec.name", "string"),
    ("schema.spec.replicas", "int"),
    ("schema.spec.ratio", "double"),
    ("schema.spec.enabled", "bool"),
    ("schema.spec.labels", "map(string, string)"),
    ("schema.spec.tags", "list(string)"),
    ("schema.spec.config.host", "string"),
    ("schema.spec.config.timeout", "google.protobuf.Duration"),
    ("schema.spec.created", "google.protobuf.Timestamp"),
    ("schema.spec.data", "bytes"),
    ("schema.spec.extra", "dyn"),
    ("schema.spec.extra.anything.deeper", "dyn"),
    ("schema.spec.intOrString", "dyn"),
    ("schema.spec.items", "list(schema.spec.items[])"),
    ("schema.spec.items[0].name", "string"),
    ("schema.spec.config", "schema.spec.config"),
    ("schema.metadata.name", "string"),
    ("schema.metadata.namespace", "string"),
    ("schema.metadata.labels", "map(string, string)"),
    ("schema.metadata.generation", "int"),
    ("schema.metadata.uid", "string"),
    ("schema.apiVersion", "string"),
    ("schema.kind", "string"),
    ("schema.spec.labels.app", "string"),
    ("schema.spec.labels['app']", "string"),
    ("deployment.spec.replicas", "int"),
    ("deployment.status.availableReplicas", "int"),
    ("deployment.metadata.name", "string"),
    ("anything.foo.bar", "dyn"),
    (
        "schem.spec",
        "!undeclared reference to \"schem\" (did you mean \"schema\"?)",
    ),
    (
        "deploymnt.spec",
        "!undeclared reference to \"deploymnt\" (did you mean \"deployment\"?)",
    ),
    ("zzzz", "!undeclared reference to \"zzzz\""),
    (
        "schema.spec.nmae",
        "!type \"schema.spec\" has no field \"nmae\" (did you mean \"name\"?)",
    ),
    (
        "schema.spec.replicaz",
        "!type \"schema.spec\" has no field \"replicaz\" (did you mean \"replicas\"?)",
    ),
    ("schema.status", "!type \"schema\" has no field \"status\""),
    (
        "schema.spec.config.hots",
        "!type \"schema.spec.config\" has no field \"hots\" (did you mean \"host\"?)",
    ),
    (
        "schema.spec.name.first",
        "!type \"string\" does not support field selection (field \"first\")",
    ),
    (
        "schema.spec.tags.first",
        "!type \"list(string)\" does not support field selection (field \"first\")",
    ),
    (
        "deployment.status.ready",
        "!type \"deployment.status\" has no field \"ready\"",
    ),
    ("schema.spec['name']", "string"),
    (
        "schema.spec['nope']",
        "!type \"schema.spec\" has no field \"nope\"",
    ),
    // has() and presence.
    ("has(schema.spec.image)", "bool"),
    ("has(schema.spec.labels.app)", "bool"),
    ("has(schema.spec.extra.x)", "bool"),
    (
        "has(schema.spec.imag)",
        "!type \"schema.spec\" has no field \"imag\" (did you mean \"image\"?)",
    ),
    (
        "has(schema.spec.name.x)",
        "!type \"string\" does not support field selection (field \"x\"); type \"string\" does not support field selection (field \"x\")",
    ),
    // Arithmetic.
    ("1 + 2", "int"),
    ("1u + 2u", "uint"),
    ("1.0 + 2.5", "double"),
    ("'a' + 'b'", "string"),
    ("b'a' + b'b'", "bytes"),
    ("[1] + [2]", "list(int)"),
    ("[1] + []", "list(int)"),
    ("[] + ['a']", "list(string)"),
    ("schema.spec.replicas * 2", "int"),
    ("schema.spec.replicas / 2", "int"),
    ("schema.spec.replicas % 2", "int"),
    ("schema.spec.ratio * 2.0", "double"),
    ("-schema.spec.replicas", "int"),
    ("-schema.spec.ratio", "double"),
    ("schema.spec.replicas - 1", "int"),
    (
        "schema.spec.created + schema.spec.config.timeout",
        "google.protobuf.Timestamp",
    ),
    (
        "schema.spec.created - schema.spec.created",
        "google.protobuf.Duration",
    ),
    (
        "schema.spec.config.timeout + schema.spec.config.timeout",
        "google.protobuf.Duration",
    ),
    (
        "1 + 1.0",
        "!found no matching overload for \"_+_\" applied to \"(int, double)\"",
    ),
    (
        "schema.spec.replicas + '1'",
        "!found no matching overload for \"_+_\" applied to \"(int, string)\"",
    ),
    (
        "'replicas: ' + schema.spec.replicas",
        "!found no matching overload for \"_+_\" applied to \"(string, int)\"",
    ),
    (
        "schema.spec.name + 1",
        "!found no matching overload for \"_+_\" applied to \"(string, int)\"",
    ),
    (
        "[1] + ['a']",
        "!found no matching overload for \"_+_\" applied to \"(list(int), list(string))\"",
    ),
    (
        "1.5 % 2.0",
        "!found no matching overload for \"_%_\" applied to \"(double, double)\"",
    ),
    (
        "-'a'",
        "!found no matching overload for \"-_\" applied to \"(string)\"",
    ),
    (
        "true + true",
        "!found no matching overload for \"_+_\" applied to \"(bool, bool)\"",
    ),
    ("anything + 1", "int"),
    ("anything + anything", "dyn"),
    ("schema.spec.intOrString + 1", "int"),
    // Logic, comparisons, ternary.
    ("true && false", "bool"),
    ("true || false", "bool"),
    ("!true", "bool"),
    ("!schema.spec.enabled", "bool"),
    ("schema.spec.replicas > 1", "bool"),
    ("schema.spec.replicas >= 1.5", "bool"),
    ("schema.spec.ratio < 1", "bool"),
    ("schema.spec.name < 'm'", "bool"),
    ("schema.spec.created < schema.spec.created", "bool"),
    (
        "schema.spec.name > 1",
        "!found no matching overload for \"_>_\" applied to \"(string, int)\"",
    ),
    ("schema.spec.name == 'a'", "bool"),
    ("schema.spec.name != 'a'", "bool"),
    ("schema.spec.replicas == 1", "bool"),
    (
        "schema.spec.replicas == 1.0",
        "!found no matching overload for \"_==_\" applied to \"(int, double)\"",
    ),
    (
        "schema.spec.replicas == '1'",
        "!found no matching overload for \"_==_\" applied to \"(int, string)\"",
    ),
    ("schema.spec.extra == null", "bool"),
    ("anything == 1", "bool"),
    ("schema.spec.tags == ['a']", "bool"),
    ("schema.spec.enabled ? 'yes' : 'no'", "string"),
    ("schema.spec.enabled ? 1 : 2", "int"),
    (
        "schema.spec.enabled ? 1 : 'no'",
        "!found no matching overload for \"_?_:_\" applied to \"(bool, int, string)\"",
    ),
    (
        "schema.spec.name ? 1 : 2",
        "!found no matching overload for \"_?_:_\" applied to \"(string, int, int)\"",
    ),
    ("schema.spec.enabled ? [] : ['a']", "list(string)"),
    ("schema.spec.enabled ? anything : 1", "dyn"),
    (
        "schema.spec.replicas && true",
        "!found no matching overload for \"_&&_\" applied to \"(int, bool)\"",
    ),
    (
        "!schema.spec.name",
        "!found no matching overload for \"!_\" applied to \"(string)\"",
    ),
    ("1 in [1, 2]", "bool"),
    ("'a' in schema.spec.tags", "bool"),
    ("'app' in schema.spec.labels", "bool"),
    (
        "1 in schema.spec.tags",
        "!found no matching overload for \"@in\" applied to \"(int, list(string))\"",
    ),
    ("'name' in schema.spec", "bool"),
    // Indexing.
    ("schema.spec.tags[0]", "string"),
    ("schema.spec.ports[0] + 1", "int"),
    ("schema.spec.labels['a']", "string"),
    (
        "schema.spec.tags['a']",
        "!found no matching overload for \"_[_]\" applied to \"(list(string), string)\"",
    ),
    (
        "schema.spec.labels[1]",
        "!found no matching overload for \"_[_]\" applied to \"(map(string, string), int)\"",
    ),
    (
        "schema.spec.name[0]",
        "!found no matching overload for \"_[_]\" applied to \"(string, int)\"",
    ),
    ("anything[0]", "dyn"),
    ("[[1]][0][0]", "int"),
    // Conversions.
    ("string(schema.spec.replicas)", "string"),
    ("string(schema.spec.ratio)", "string"),
    ("string(schema.spec.enabled)", "string"),
    ("string(schema.spec.created)", "string"),
    ("string(schema.spec.data)", "string"),
    ("int(schema.spec.ratio)", "int"),
    ("int('42')", "int"),
    ("int(schema.spec.created)", "int"),
    ("uint(schema.spec.replicas)", "uint"),
    ("double(schema.spec.replicas)", "double"),
    ("bytes(schema.spec.name)", "bytes"),
    ("bool('true')", "bool"),
    ("duration('1h')", "google.protobuf.Duration"),
    (
        "timestamp('2024-01-01T00:00:00Z')",
        "google.protobuf.Timestamp",
    ),
    ("dyn(schema.spec.name)", "dyn"),
    ("type(schema.spec.name)", "type"),
    ("type(1) == int", "bool"),
    (
        "string(schema.spec.tags)",
        "!found no matching overload for \"string\" applied to \"(list(string))\"",
    ),
    (
        "int(schema.spec.tags)",
        "!found no matching overload for \"int\" applied to \"(list(string))\"",
    ),
    (
        "string(schema.spec.name, 1)",
        "!found no matching overload for \"string\" applied to \"(string, int)\"",
    ),
    // size and strings.
    ("size(schema.spec.tags)", "int"),
    ("schema.spec.tags.size()", "int"),
    ("size(schema.spec.name)", "int"),
    ("size(schema.spec.labels)", "int"),
    (
        "size(schema.spec.replicas)",
        "!found no matching overload for \"size\" applied to \"(int)\"",
    ),
    ("schema.spec.name.contains('a')", "bool"),
    ("schema.spec.name.startsWith('a')", "bool"),
    ("schema.spec.name.endsWith('a')", "bool"),
    ("schema.spec.name.matches('^a')", "bool"),
    ("matches(schema.spec.name, '^a')", "bool"),
    (
        "schema.spec.name.contains(1)",
        "!found no matching overload for \"contains\" applied to \"string.(int)\"",
    ),
    (
        "schema.spec.replicas.contains('a')",
        "!found no matching overload for \"contains\" applied to \"int.(string)\"",
    ),
    (
        "schema.spec.name.cotains('a')",
        "!undeclared function \"cotains\" (did you mean \"contains\"?)",
    ),
    (
        "lenght(schema.spec.name)",
        "!undeclared function \"lenght\"",
    ),
    ("schema.spec.name.charAt(0)", "string"),
    ("schema.spec.name.indexOf('a')", "int"),
    ("schema.spec.name.indexOf('a', 1)", "int"),
    ("schema.spec.name.lastIndexOf('a')", "int"),
    ("schema.spec.name.lowerAscii()", "string"),
    ("schema.spec.name.upperAscii()", "string"),
    ("schema.spec.name.replace('a', 'b')", "string"),
    ("schema.spec.name.replace('a', 'b', 1)", "string"),
    ("schema.spec.name.split('-')", "list(string)"),
    ("schema.spec.name.split('-', 2)", "list(string)"),
    ("schema.spec.name.substring(1)", "string"),
    ("schema.spec.name.substring(1, 2)", "string"),
    ("schema.spec.name.trim()", "string"),
    ("schema.spec.name.reverse()", "string"),
    ("schema.spec.tags.join()", "string"),
    ("schema.spec.tags.join(',')", "string"),
    (
        "schema.spec.ports.join(',')",
        "!found no matching overload for \"join\" applied to \"list(int).(string)\"",
    ),
    (
        "'%s-%d'.format([schema.spec.name, schema.spec.replicas])",
        "string",
    ),
    ("strings.quote(schema.spec.name)", "string"),
    (
        "strings.qoute(schema.spec.name)",
        "!undeclared function \"strings.qoute\" (did you mean \"strings.quote\"?)",
    ),
    ("schema.spec.name.find('[a-z]+')", "string"),
    ("schema.spec.name.findAll('[a-z]')", "list(string)"),
    ("schema.spec.name.findAll('[a-z]', 2)", "list(string)"),
    // Timestamps and durations.
    ("schema.spec.created.getFullYear()", "int"),
    ("schema.spec.created.getMonth('UTC')", "int"),
    ("schema.spec.created.getDayOfWeek()", "int"),
    ("schema.spec.config.timeout.getSeconds()", "int"),
    (
        "schema.spec.config.timeout.getFullYear()",
        "!found no matching overload for \"getFullYear\" applied to \"google.protobuf.Duration.()\"",
    ),
    // Lists extension.
    ("schema.spec.tags.slice(0, 1)", "list(string)"),
    ("[[1], [2]].flatten()", "list(int)"),
    ("schema.spec.tags.sort()", "list(string)"),
    ("schema.spec.tags.distinct()", "list(string)"),
    ("schema.spec.tags.reverse()", "list(string)"),
    ("schema.spec.tags.first()", "optional_type(string)"),
    ("schema.spec.tags.last().orValue('')", "string"),
    ("lists.range(3)", "list(int)"),
    (
        "lists.range('a')",
        "!found no matching overload for \"lists.range\" applied to \"(string)\"",
    ),
    ("schema.spec.ports.sum()", "int"),
    ("schema.spec.ports.min()", "int"),
    ("schema.spec.ports.max()", "int"),
    ("schema.spec.ports.isSorted()", "bool"),
    ("schema.spec.tags.indexOf('a')", "int"),
    ("schema.spec.tags.lastIndexOf('a')", "int"),
    (
        "schema.spec.tags.sum()",
        "!found no matching overload for \"sum\" applied to \"list(string).()\"",
    ),
    (
        "schema.spec.tags.indexOf(1)",
        "!found no matching overload for \"indexOf\" applied to \"list(string).(int)\"",
    ),
    // Encoders and kro libraries.
    ("base64.encode(schema.spec.data)", "string"),
    ("base64.decode(schema.spec.name)", "bytes"),
    (
        "base64.encode(schema.spec.name)",
        "!found no matching overload for \"base64.encode\" applied to \"(string)\"",
    ),
    ("hash.fnv64a(schema.spec.name)", "bytes"),
    ("hash.sha256(schema.spec.name)", "bytes"),
    ("hash.md5(schema.spec.name)", "bytes"),
    ("base64.encode(hash.sha256(schema.spec.name))", "string"),
    (
        "hash.sha256(schema.spec.replicas)",
        "!found no matching overload for \"hash.sha256\" applied to \"(int)\"",
    ),
    (
        "hash.sha512(schema.spec.name)",
        "!undeclared function \"hash.sha512\" (did you mean \"hash.sha256\"?)",
    ),
    ("json.unmarshal(schema.spec.name)", "dyn"),
    ("json.marshal(schema.spec.labels)", "string"),
    ("json.unmarshal('{}').a.b", "dyn"),
    ("random.seededString(8, schema.spec.name)", "string"),
    ("random.seededInt(0, 10, schema.spec.name)", "int"),
    (
        "random.seededInt(0, schema.spec.name)",
        "!found no matching overload for \"random.seededInt\" applied to \"(int, string)\"",
    ),
    (
        "schema.spec.labels.merge({'a': 'b'})",
        "map(string, string)",
    ),
    (
        "schema.spec.labels.merge({'a': 1})",
        "!found no matching overload for \"merge\" applied to \"map(string, string).(map(string, int))\"",
    ),
    ("schema.spec.extra.deepMerge({'a': 1})", "dyn"),
    ("lists.setAtIndex(schema.spec.tags, 0, 'x')", "list(string)"),
    (
        "lists.insertAtIndex(schema.spec.tags, 0, 'x')",
        "list(string)",
    ),
    ("lists.removeAtIndex(schema.spec.tags, 0)", "list(string)"),
    (
        "lists.setAtIndex(schema.spec.tags, 0, 1)",
        "!found no matching overload for \"lists.setAtIndex\" applied to \"(list(string), int, int)\"",
    ),
    (
        "omit()",
        "!omit() requires the CELOmitFunction feature gate to be enabled",
    ),
    (
        "runtime.newCondition({type: 'Ready', status: 'True'})",
        "!runtime.newCondition() is only available in status conditions",
    ),
    // Kubernetes libraries.
    ("url(schema.spec.name).getHost()", "string"),
    (
        "url(schema.spec.name).getQuery()",
        "map(string, list(string))",
    ),
    ("isURL(schema.spec.name)", "bool"),
    ("quantity('1Gi').isLessThan(quantity('2Gi'))", "bool"),
    ("quantity('1Gi').add(1).asInteger()", "int"),
    ("quantity('1Gi').compareTo(quantity('1G'))", "int"),
    ("quantity('1Gi').asApproximateFloat()", "double"),
    ("isQuantity('1Gi')", "bool"),
    (
        "quantity('1Gi').isLessThan('2Gi')",
        "!found no matching overload for \"isLessThan\" applied to \"kubernetes.Quantity.(string)\"",
    ),
    ("ip('10.0.0.1').family()", "int"),
    ("ip('10.0.0.1').isLoopback()", "bool"),
    ("ip.isCanonical('10.0.0.1')", "bool"),
    ("string(ip('10.0.0.1'))", "string"),
    ("cidr('10.0.0.0/8').containsIP('10.0.0.1')", "bool"),
    ("cidr('10.0.0.0/8').containsIP(ip('10.0.0.1'))", "bool"),
    ("cidr('10.0.0.0/8').ip().family()", "int"),
    ("cidr('10.0.0.0/8').prefixLength()", "int"),
    ("cidr('10.0.0.0/8').masked()", "net.CIDR"),
    ("semver('1.2.3').major()", "int"),
    ("semver('1.2.3', true).isLessThan(semver('1.3.0'))", "bool"),
    ("isSemver('1.2.3')", "bool"),
    (
        "semver('1.2.3').isLessThan('1.3.0')",
        "!found no matching overload for \"isLessThan\" applied to \"kubernetes.Semver.(string)\"",
    ),
    // Macros and comprehensions.
    ("schema.spec.tags.map(t, t.upperAscii())", "list(string)"),
    ("schema.spec.tags.map(t, size(t))", "list(int)"),
    ("schema.spec.tags.map(t, t != '', t + '!')", "list(string)"),
    ("schema.spec.tags.filter(t, t != '')", "list(string)"),
    ("schema.spec.tags.all(t, t != '')", "bool"),
    ("schema.spec.tags.exists(t, t == 'a')", "bool"),
    ("schema.spec.tags.exists_one(t, t == 'a')", "bool"),
    ("schema.spec.items.map(i, i.name)", "list(string)"),
    (
        "schema.spec.items.filter(i, i.name != '').map(i, i.name)",
        "list(string)",
    ),
    (
        "schema.spec.labels.map(k, k + '=' + schema.spec.labels[k])",
        "list(string)",
    ),
    ("schema.spec.labels.all(k, k != '')", "bool"),
    (
        "deployment.status.conditions.exists(c, c.type == 'Available' && c.status == 'True')",
        "bool",
    ),
    ("pods.map(p, p.metadata.name)", "list(string)"),
    ("pods.all(p, p.spec.replicas > 0)", "bool"),
    (
        "schema.spec.tags.map(t, t.nope)",
        "!type \"string\" does not support field selection (field \"nope\")",
    ),
    (
        "schema.spec.tags.all(t, t)",
        "!found no matching overload for \"_&&_\" applied to \"(bool, string)\"",
    ),
    (
        "schema.spec.tags.map(t, x)",
        "!undeclared reference to \"x\"",
    ),
    (
        "schema.spec.replicas.map(t, t)",
        "!expression of type \"int\" cannot be iterated; expected a list or a map",
    ),
    (
        "schema.spec.items.map(i, i.nmae)",
        "!type \"schema.spec.items[]\" has no field \"nmae\" (did you mean \"name\"?)",
    ),
    ("[1, 2].map(x, x * 2).filter(y, y > 2)", "list(int)"),
    ("[[1, 2], [3]].map(l, l.map(x, x + 1))", "list(list(int))"),
    ("anything.map(x, x)", "list(dyn)"),
    ("schema.spec.tags.map(t, t).size()", "int"),
    ("schema.spec.tags.sortBy(t, size(t))", "list(string)"),
    // Two-variable comprehensions.
    ("schema.spec.tags.all(i, t, i >= 0 && t != '')", "bool"),
    ("schema.spec.labels.exists(k, v, k == v)", "bool"),
    ("schema.spec.labels.existsOne(k, v, v == 'x')", "bool"),
    (
        "schema.spec.tags.transformList(i, t, t + string(i))",
        "list(string)",
    ),
    (
        "schema.spec.tags.transformList(i, t, i > 0, t)",
        "list(string)",
    ),
    (
        "schema.spec.labels.transformMap(k, v, v + '!')",
        "map(string, string)",
    ),
    (
        "schema.spec.labels.transformMap(k, v, size(v))",
        "map(string, int)",
    ),
    (
        "schema.spec.labels.transformMapEntry(k, v, {v: k})",
        "map(string, string)",
    ),
    (
        "schema.spec.labels.transformMapEntry(k, v, v)",
        "!transformMapEntry must return a map, found \"string\"",
    ),
    (
        "schema.spec.labels.all(k, v, v)",
        "!found no matching overload for \"_&&_\" applied to \"(bool, string)\"",
    ),
    (
        "schema.spec.tags.transformList(i, t, t + i)",
        "!found no matching overload for \"_+_\" applied to \"(string, int)\"",
    ),
    // cel.bind.
    ("cel.bind(n, schema.spec.name, n + '-' + n)", "string"),
    ("cel.bind(r, schema.spec.replicas, r * 2)", "int"),
    (
        "cel.bind(n, schema.spec.name, n * 2)",
        "!found no matching overload for \"_*_\" applied to \"(string, int)\"",
    ),
    (
        "cel.bind(schema.spec.name, 1, 2)",
        "!syntax error: ERROR: <input>:1:21: cel.bind: the variable argument must be a simple identifier\n| cel.bind(schema.spec.name, 1, 2)\n| ....................^",
    ),
    (
        "cel.bnd(n, 1, n)",
        "!undeclared reference to \"n\"; undeclared reference to \"n\"; undeclared function \"cel.bnd\"",
    ),
    // Optionals.
    ("schema.spec.?image", "optional_type(string)"),
    ("schema.spec.?image.orValue('nginx')", "string"),
    ("schema.spec.?image.hasValue()", "bool"),
    ("schema.spec.?image.value()", "string"),
    ("schema.spec.?config.?host.orValue('')", "string"),
    ("schema.spec.?config.retries", "optional_type(int)"),
    ("schema.spec.?image.or(optional.of('x')).value()", "string"),
    ("schema.spec.labels[?'app']", "optional_type(string)"),
    ("schema.spec.labels[?'app'].orValue('none')", "string"),
    ("schema.spec.tags[?0]", "optional_type(string)"),
    ("optional.of(1)", "optional_type(int)"),
    ("optional.none()", "optional_type(dyn)"),
    ("optional.none().orValue(1)", "int"),
    (
        "optional.ofNonZeroValue(schema.spec.name)",
        "optional_type(string)",
    ),
    ("[?schema.spec.?image, 'b']", "list(string)"),
    ("{?'image': schema.spec.?image}", "map(string, string)"),
    (
        "schema.spec.?image.orValue(1)",
        "!found no matching overload for \"orValue\" applied to \"optional_type(string).(int)\"",
    ),
    (
        "schema.spec.image.orValue('x')",
        "!found no matching overload for \"orValue\" applied to \"string.(string)\"",
    ),
    (
        "[?schema.spec.name]",
        "!optional list element \"[?e]\" must be of type optional_type(T), found \"string\"",
    ),
    (
        "{?'a': schema.spec.name}",
        "!optional map entry \"{?k: v}\" must be of type optional_type(T), found \"string\"",
    ),
    (
        "schema.spec.?nope",
        "!type \"schema.spec\" has no field \"nope\"",
    ),
    (
        "schema.spec.?image.optMap(i, size(i))",
        "optional_type(int)",
    ),
    (
        "schema.spec.?image.optFlatMap(i, optional.of(i))",
        "optional_type(string)",
    ),
    (
        "schema.spec.?image.optFlatMap(i, i)",
        "!optFlatMap must return an optional, found \"string\"",
    ),
    // Struct construction and multiple errors.
    (
        "Foo{a: 1}",
        "!message construction \"Foo{...}\" is not supported; use a map literal",
    ),
    (
        "schem.a + deploymnt.b",
        "!undeclared reference to \"schem\" (did you mean \"schema\"?); undeclared reference to \"deploymnt\" (did you mean \"deployment\"?)",
    ),
    (
        "1 +",
        "!syntax error: ERROR: <input>:1:4: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n| 1 +\n| ...^",
    ),
];

fn outcome(checker: &Checker<'_>, expression: &str) -> String {
    match checker.check(expression) {
        Ok(checked) => checked.output.to_string(),
        Err(errors) => format!(
            "!{}",
            errors
                .errors
                .iter()
                .map(|located| located.error.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

#[test]
fn checker_table() {
    let env = check_common::env(false);
    let checker = Checker::new(&env);
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|(expression, expected)| {
            let actual = outcome(&checker, expression);
            (actual != *expected)
                .then(|| format!("{expression}\n    expected: {expected}\n    actual:   {actual}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert!(CASES.len() >= 200, "only {} cases", CASES.len());
}

/// Cases that only type-check where `runtime` is declared (status conditions).
#[test]
fn runtime_functions_in_status_conditions() {
    let env = check_common::env(true);
    let checker = Checker::new(&env);
    let cases: &[(&str, &str)] = &[
        (
            "runtime.newCondition({type: 'Ready', status: 'True'})",
            "kro.run.Condition",
        ),
        (
            "runtime.newCondition({type: 'Ready', status: 'True', reason: 'r', message: schema.spec.name})",
            "kro.run.Condition",
        ),
        (
            "runtime.condition(deployment, 'Available').status",
            "string",
        ),
        (
            "runtime.newCondition({type: 'Ready'})",
            "!syntax error: ERROR: <input>:1:22: runtime.newCondition: missing key \"status\"\n| runtime.newCondition({type: 'Ready'})\n| .....................^",
        ),
        (
            "runtime.newCondition({type: 'Ready', status: 1})",
            "!runtime.newCondition: values must be strings, found \"int\"",
        ),
        (
            "runtime.newCondition({type: 'A', type: 'B', status: 'True'})",
            "!syntax error: ERROR: <input>:1:34: runtime.newCondition: duplicate key \"type\"\n| runtime.newCondition({type: 'A', type: 'B', status: 'True'})\n| .................................^",
        ),
        (
            "runtime.newCondition({kind: 'A', type: 'B', status: 'True'})",
            "!syntax error: ERROR: <input>:1:23: runtime.newCondition: keys must be type, status, reason or message\n| runtime.newCondition({kind: 'A', type: 'B', status: 'True'})\n| ......................^",
        ),
        (
            "runtime.condition(deployment, 'Available').statsu",
            "!type \"kro.run.Condition\" has no field \"statsu\" (did you mean \"status\"?)",
        ),
    ];
    for (expression, expected) in cases {
        assert_eq!(outcome(&checker, expression), *expected, "{expression}");
    }
}

#[test]
fn omit_is_available_behind_its_feature_gate() {
    let mut env = check_common::env(false);
    env.set_omit_enabled(true);
    let checked = Checker::new(&env).check("schema.spec.enabled ? 'x' : omit()");
    assert_eq!(checked.map(|c| c.output.to_string()), Ok("dyn".to_string()));
}
