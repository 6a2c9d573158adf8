set -e
# Fixtures of tests/chain_fixtures.rs: a GOST R 34.10-2012 256-bit chain (paramset A),
# root → intermediate → signer, valid 2024–2044, and the intermediate's CRL revoking the signer.
E="-engine gost"
cnf() { mkdir -p $1; : > $1/index.txt; echo $2 > $1/serial; echo 01 > $1/crlnumber
cat > $1/ca.cnf <<C
[ca]
default_ca = d
[d]
dir = $PWD/$1
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = default
policy = p
unique_subject = no
[p]
SNILS = optional
commonName = optional
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[signer_ext]
keyUsage = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[crl_ext]
authorityKeyIdentifier = keyid:always
C
}
D="-startdate 20240101000000Z -enddate 20440101000000Z"
cnf root 1000; cnf inter 2000
for n in root inter signer; do openssl genpkey $E -algorithm gost2012_256 -pkeyopt paramset:A -out $n.key; done
openssl req -config root/ca.cnf $E -new -key root.key -utf8 -subj "/CN=Тестовый головной УЦ" -md_gost12_256 -out root.csr
openssl ca -batch -config root/ca.cnf $E -selfsign -keyfile root.key -in root.csr -extensions ca_ext $D -utf8 -md md_gost12_256 -out root.pem
openssl req -config root/ca.cnf $E -new -key inter.key -utf8 -subj "/CN=Тестовый УЦ ГБУЗ" -md_gost12_256 -out inter.csr
openssl ca -batch -config root/ca.cnf $E -cert root.pem -keyfile root.key -in inter.csr -extensions ca_ext $D -utf8 -md md_gost12_256 -out inter.pem
openssl req -config root/ca.cnf $E -new -key signer.key -utf8 -subj "/SNILS=11223344595/CN=Иванов Иван Иванович" -md_gost12_256 -out signer.csr
openssl ca -batch -config inter/ca.cnf $E -cert inter.pem -keyfile inter.key -in signer.csr -extensions signer_ext $D -utf8 -md md_gost12_256 -out signer.pem
openssl cms -sign $E -binary -md md_gost12_256 -in body.txt -signer signer.pem -inkey signer.key -certfile inter.pem -outform DER -out chain256.p7s
openssl ca -config inter/ca.cnf $E -cert inter.pem -keyfile inter.key -revoke signer.pem -crl_reason keyCompromise -md md_gost12_256
openssl ca -config inter/ca.cnf $E -gencrl -cert inter.pem -keyfile inter.key -crldays 7300 -crlexts crl_ext -md md_gost12_256 -out inter-revoked.crl.pem
for n in root inter signer; do openssl x509 -in $n.pem -outform DER -out $n.der; done
openssl crl -in inter-revoked.crl.pem -outform DER -out inter-revoked.crl
