#!/usr/bin/env python3
"""Vendors the terminology zdrav serves without ../shared: the R4 CodeSystems and ValueSets
(narrative and definitions dropped, codes, displays, hierarchy and compose kept) and the
Минздрав НСИ dictionaries of ../shared/data/nsi (МКБ-10, МКБ-О) as they are, gzipped.

    python3 tools/vendor_terminology.py
"""
import gzip, json, os, shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, '..', 'shared')
OUT = os.path.join(ROOT, 'crates', 'terminology', 'defs')

def concepts(cs_concepts):
    out = []
    for c in cs_concepts:
        k = {'code': c['code']}
        if c.get('display'):
            k['display'] = c['display']
        if c.get('concept'):
            k['concept'] = concepts(c['concept'])
        props = [p for p in c.get('property', []) if p.get('code') in ('status', 'deprecated', 'notSelectable', 'parent')]
        if props:
            k['property'] = props
        out.append(k)
    return out

bundle = json.load(open(os.path.join(SHARED, 'fhir-r4', 'valuesets.json')))
keep = []
for e in bundle['entry']:
    r = e['resource']
    if r['resourceType'] == 'CodeSystem':
        if r.get('content') not in ('complete', 'fragment'):
            continue
        keep.append({k: v for k, v in {
            'resourceType': 'CodeSystem', 'id': r['id'], 'url': r['url'], 'version': r.get('version'),
            'name': r.get('name'), 'title': r.get('title'), 'status': r.get('status'),
            'hierarchyMeaning': r.get('hierarchyMeaning'), 'caseSensitive': r.get('caseSensitive'),
            'content': r['content'], 'valueSet': r.get('valueSet'),
            'concept': concepts(r.get('concept', [])),
        }.items() if v is not None})
    else:
        keep.append({k: v for k, v in {
            'resourceType': 'ValueSet', 'id': r['id'], 'url': r['url'], 'version': r.get('version'),
            'name': r.get('name'), 'title': r.get('title'), 'status': r.get('status'),
            'compose': r.get('compose'),
        }.items() if v is not None})
os.makedirs(OUT, exist_ok=True)
with gzip.open(os.path.join(OUT, 'r4-terminology.json.gz'), 'wt', compresslevel=9, encoding='utf-8') as f:
    json.dump(keep, f, ensure_ascii=False, separators=(',', ':'))
os.makedirs(os.path.join(OUT, 'nsi'), exist_ok=True)
for name in sorted(os.listdir(os.path.join(SHARED, 'data', 'nsi'))):
    if name.endswith('.csv'):
        with open(os.path.join(SHARED, 'data', 'nsi', name), 'rb') as src, \
             gzip.open(os.path.join(OUT, 'nsi', name + '.gz'), 'wb', compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
for root, _, files in os.walk(OUT):
    for n in files:
        print(os.path.join(root, n), os.path.getsize(os.path.join(root, n)), 'bytes')
