#!/usr/bin/env bash
# Makes the signed material for `zdrav-bench remd`: a document body, a GOST R 34.10-2012
# (256-bit) certificate and key for a doctor (СНИЛС 112-233-445 95) and for an organisation
# (ОГРН 1027700132195), and their detached CMS signatures of the body, with OpenSSL's GOST
# engine (Debian: libengine-gost-openssl). Usage: bench/remd_fixture.sh OUT_DIR
# With BODY_BYTES=N the body is N random bytes instead (a large scan or PDF, for body reads).
set -euo pipefail
out="${1:?output directory}"
mkdir -p "$out"
cd "$out"
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
commonName = optional
[v3]
keyUsage = critical, digitalSignature, nonRepudiation
[req]
distinguished_name = dn
[dn]
CNF
: > index.txt
echo 01 > serial
if [ -n "${BODY_BYTES:-}" ]; then
  head -c "$BODY_BYTES" /dev/urandom > body.txt
else
  printf 'Протокол лабораторного исследования\r\nГемоглобин 140 г/л\r\n%.0s' {1..40} > body.txt
fi
for who in doctor:/SNILS=11223344595/CN=Иванов clinic:/OGRN=1027700132195/CN=ГП1; do
  name="${who%%:*}"; subj="${who#*:}"
  openssl genpkey -engine gost -algorithm gost2012_256 -pkeyopt paramset:A -out "$name.key" 2>/dev/null
  openssl req -engine gost -config ca.cnf -new -key "$name.key" -utf8 -subj "$subj" -md_gost12_256 -out "$name.csr" 2>/dev/null
  openssl ca -engine gost -batch -config ca.cnf -selfsign -keyfile "$name.key" -in "$name.csr" \
    -startdate 20250101000000Z -enddate 20350101000000Z -utf8 -out "$name.pem" 2>/dev/null
  openssl cms -engine gost -sign -binary -md md_gost12_256 -in body.txt -signer "$name.pem" \
    -inkey "$name.key" -outform DER -out "$name.p7s" 2>/dev/null
done
ls -l body.txt doctor.p7s clinic.p7s
