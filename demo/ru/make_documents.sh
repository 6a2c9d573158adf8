#!/usr/bin/env bash
# Makes demo/ru/documents.json: two registered medical documents of the demo patient Смирнов,
# one from each demo organisation, signed (GOST R 34.10-2012, 256-bit) by the author doctor
# (СНИЛС in the certificate) and by the organisation (ОГРН), with OpenSSL's GOST engine
# (Debian: libengine-gost-openssl). The keys are thrown away; only the signed output is kept.
# Usage: demo/ru/make_documents.sh   (run from anywhere; rewrites documents.json beside it)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > ca.cnf <<'CNF'
[ca]
default_ca = d
[d]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = md_gost12_256
policy = p
x509_extensions = v3
unique_subject = no
[p]
SNILS = optional
OGRN = optional
surname = optional
givenName = optional
commonName = optional
[v3]
keyUsage = critical, digitalSignature, nonRepudiation
[req]
distinguished_name = dn
[dn]
CNF
: > index.txt
echo 01 > serial
cert() { # name subject
  openssl genpkey -engine gost -algorithm gost2012_256 -pkeyopt paramset:A -out "$1.key" 2>/dev/null
  openssl req -engine gost -config ca.cnf -new -key "$1.key" -utf8 -subj "$2" -md_gost12_256 -out "$1.csr" 2>/dev/null
  openssl ca -engine gost -batch -config ca.cnf -selfsign -keyfile "$1.key" -in "$1.csr" \
    -startdate 20250101000000Z -enddate 20350101000000Z -utf8 -out "$1.pem" 2>/dev/null
}
sign() { # signer body out
  openssl cms -engine gost -sign -binary -md md_gost12_256 -in "$2" -signer "$1.pem" \
    -inkey "$1.key" -outform DER -out "$3" 2>/dev/null
}
cert ivanova "/SNILS=11223344595/SN=Иванова/GN=Мария Петровна/CN=Иванова Мария Петровна"
cert gp1 "/OGRN=1027700132195/CN=ГБУЗ «Городская поликлиника № 1 ДЗМ»"
cert petrov "/SNILS=14352789677/SN=Петров/GN=Сергей Николаевич/CN=Петров Сергей Николаевич"
cert gkb5 "/OGRN=1037739098760/CN=ГБУЗ «Городская клиническая больница № 5 ДЗМ»"
cat > lab.txt <<'TXT'
ГБУЗ «Городская поликлиника № 1 ДЗМ»
ПРОТОКОЛ ЛАБОРАТОРНОГО ИССЛЕДОВАНИЯ

Пациент: Смирнов Алексей Иванович, 12.04.1980 г. р., СНИЛС 128-456-390 80
Дата взятия материала: 11.03.2026
Исследование: общий анализ крови

Гемоглобин ............ 146 г/л      (130–160)
Эритроциты ............ 4,9 ×10¹²/л  (4,0–5,0)
Лейкоциты ............. 6,2 ×10⁹/л   (4,0–9,0)
Тромбоциты ............ 254 ×10⁹/л   (180–320)
СОЭ ................... 8 мм/ч       (2–10)

Заключение: показатели в пределах референсных значений.
Врач: Иванова М. П., терапевт
TXT
cat > consult.txt <<'TXT'
ГБУЗ «Городская клиническая больница № 5 ДЗМ»
ПРОТОКОЛ КОНСУЛЬТАЦИИ

Пациент: Смирнов Алексей Иванович, 12.04.1980 г. р.
Дата: 02.06.2026
Консультация врача-кардиолога

Жалобы: периодические головные боли, повышение АД до 150/95 мм рт. ст.
Диагноз: I10 Эссенциальная (первичная) гипертензия; E78.0 Чистая гиперхолестеринемия.
Рекомендации: контроль АД дважды в день, диета с ограничением соли,
повторная консультация через 3 месяца.
Врач: Петров С. Н., кардиолог
TXT
sign ivanova lab.txt lab-doctor.p7s; sign gp1 lab.txt lab-org.p7s
sign petrov consult.txt consult-doctor.p7s; sign gkb5 consult.txt consult-org.p7s
python3 - "$here/documents.json" <<'PY'
import base64, hashlib, json, sys
KINDS = "urn:oid:1.2.643.5.1.13.13.11.1522"
def b64(b): return base64.b64encode(b).decode()
def reg(n, body, code, display, date, author, custodian, sigs):
    data = open(body, "rb").read()
    entries = [
        {"resource": {"resourceType": "Binary", "id": f"{n}-body", "contentType": "text/plain; charset=utf-8", "data": b64(data)},
         "request": {"method": "PUT", "url": f"Binary/{n}-body"}},
        {"resource": {"resourceType": "DocumentReference", "id": n, "status": "current",
            "type": {"coding": [{"system": KINDS, "code": code, "display": display}]},
            "subject": {"reference": "Patient/pat-smirnov"}, "date": date,
            "author": [{"reference": author}], "custodian": {"reference": custodian},
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "url": f"Binary/{n}-body",
                "size": len(data), "hash": b64(hashlib.sha1(data).digest())}}]},
         "request": {"method": "PUT", "url": f"DocumentReference/{n}"}}]
    for k, (agent, sig) in enumerate(sigs):
        entries.append({"resource": {"resourceType": "Provenance", "id": f"{n}-sig{k}",
            "target": [{"reference": f"DocumentReference/{n}"}], "recorded": date,
            "agent": [{"who": {"reference": agent}}],
            "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}],
                "when": date, "who": {"reference": agent},
                "sigFormat": "application/pkcs7-signature", "data": b64(open(sig, "rb").read())}]},
            "request": {"method": "PUT", "url": f"Provenance/{n}-sig{k}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
out = [
    reg("doc-smirnov-lab", "lab.txt", "7", "Протокол лабораторного исследования", "2026-03-12T10:00:00+03:00",
        "Practitioner/pr-ivanova", "Organization/org-gp1", [("Practitioner/pr-ivanova", "lab-doctor.p7s"), ("Organization/org-gp1", "lab-org.p7s")]),
    reg("doc-smirnov-consult", "consult.txt", "5", "Протокол консультации", "2026-06-02T12:00:00+03:00",
        "Practitioner/pr-petrov", "Organization/org-gkb5", [("Practitioner/pr-petrov", "consult-doctor.p7s"), ("Organization/org-gkb5", "consult-org.p7s")]),
]
json.dump(out, open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
PY
echo "wrote $here/documents.json"
