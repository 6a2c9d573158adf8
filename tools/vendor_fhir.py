#!/usr/bin/env python3
"""Extracts from the official FHIR R4 definitions (../shared/fhir-r4) the parts zdrav needs at run time
and writes them, compressed, to crates/fhir/defs/. Re-run when the definitions change:

    python3 tools/vendor_fhir.py ../shared/fhir-r4

Why a script and not build.rs: the shared folder is not part of a fresh clone; the vendored output is
committed so the product builds with nothing but the repository.
"""
import gzip, json, os, sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'fhir-r4')
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'crates', 'fhir', 'defs')

def load(name):
    with open(os.path.join(src, name), encoding='utf-8') as f:
        return json.load(f)

FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type'

def type_code(t):
    code = t['code']
    if code.startswith('http://hl7.org/fhirpath/System.'):
        for ext in t.get('extension', []):
            if ext['url'] == FHIR_TYPE_EXT:
                return ext['valueUrl']
        return code.rsplit('.', 1)[1].lower() if not code.endswith('String') else 'string'
    return code

def element(el):
    out = {'path': el['path'], 'min': el.get('min', 0), 'max': el.get('max', '*')}
    types = []
    for t in el.get('type', []):
        entry = {'code': type_code(t)}
        if t.get('targetProfile'):
            entry['targets'] = [p.rsplit('/', 1)[1] for p in t['targetProfile']]
        types.append(entry)
    if types:
        out['types'] = types
    if 'contentReference' in el:
        out['contentReference'] = el['contentReference'].lstrip('#')
    b = el.get('binding')
    if b and b.get('valueSet'):
        out['binding'] = {'strength': b['strength'], 'valueSet': b['valueSet'].split('|')[0]}
    cons = [{'key': c['key'], 'severity': c['severity'], 'human': c.get('human', ''),
             'expression': c['expression']} for c in el.get('constraint', []) if 'expression' in c]
    if cons:
        out['constraints'] = cons
    if el.get('isSummary'):
        out['summary'] = True
    if el.get('isModifier'):
        out['modifier'] = True
    return out

structures = {}
for bundle in (load('profiles-types.json'), load('profiles-resources.json')):
    for e in bundle['entry']:
        r = e['resource']
        if r['resourceType'] != 'StructureDefinition':
            continue
        if r.get('derivation') == 'constraint':
            continue  # profiles such as SimpleQuantity are not base types
        if r['kind'] == 'logical':
            continue
        structures[r['id']] = {
            'name': r['id'], 'kind': r['kind'], 'abstract': r.get('abstract', False),
            'base': r.get('baseDefinition', '').rsplit('/', 1)[-1] or None,
            'elements': [element(el) for el in r['snapshot']['element']],
        }

# Value sets: expand what can be expanded from the local code systems (enumerated or whole-system).
vs_bundle = load('valuesets.json')
codesystems, valuesets = {}, {}
for e in vs_bundle['entry']:
    r = e['resource']
    if r['resourceType'] == 'CodeSystem':
        codesystems[r['url']] = r
    else:
        valuesets[r['url']] = r

def cs_codes(cs):
    codes = []
    def walk(concepts):
        for c in concepts:
            codes.append(c['code'])
            walk(c.get('concept', []))
    walk(cs.get('concept', []))
    return codes

def expand(url, seen=()):
    """Returns a sorted list of [system, code], or None if not enumerable from local definitions."""
    vs = valuesets.get(url)
    if vs is None or url in seen:
        return None
    result = set()
    compose = vs.get('compose', {})
    if compose.get('exclude'):
        return None
    for inc in compose.get('include', []):
        if inc.get('filter'):
            return None
        for sub in inc.get('valueSet', []):
            codes = expand(sub.split('|')[0], seen + (url,))
            if codes is None:
                return None
            result.update(map(tuple, codes))
        system = inc.get('system')
        if not system:
            continue
        if inc.get('concept'):
            result.update((system, c['code']) for c in inc['concept'])
        else:
            cs = codesystems.get(system)
            if cs is None or cs.get('content') not in (None, 'complete'):
                return None
            result.update((system, c) for c in cs_codes(cs))
    return sorted(list(x) for x in result) if result else None

bound = {}
for s in structures.values():
    for el in s['elements']:
        b = el.get('binding')
        if b and b['valueSet'] not in bound:
            codes = expand(b['valueSet'])
            if codes is not None:
                bound[b['valueSet']] = codes

sp = []
for e in load('search-parameters.json')['entry']:
    r = e['resource']
    keep = {k: r[k] for k in ('id', 'url', 'code', 'base', 'type', 'expression', 'target', 'modifier',
                               'comparator', 'multipleOr', 'multipleAnd', 'chain') if k in r}
    if 'component' in r:
        keep['component'] = [{'definition': c['definition'].rsplit('/', 1)[-1], 'expression': c['expression']}
                             for c in r['component']]
    sp.append(keep)

compartment = load('compartmentdefinition-patient.json')
comp = {res['code']: res.get('param', []) for res in compartment['resource']}

os.makedirs(out, exist_ok=True)
def write(name, obj):
    data = json.dumps(obj, ensure_ascii=False, separators=(',', ':'), sort_keys=True).encode()
    with gzip.GzipFile(os.path.join(out, name), 'wb', compresslevel=9, mtime=0) as f:
        f.write(data)
    print(name, len(data), 'bytes raw')

write('structures.json.gz', structures)
write('valuesets.json.gz', bound)
write('search-parameters.json.gz', sp)
write('compartment-patient.json.gz', comp)
