#!/bin/sh
# Regenerates the certificates the spec tests use (run from t/cert/; the outputs are
# committed so the tests do not depend on when they run). Valid for 100 years, but
# expired.crt, which ended in 2001.
set -eu
days=36500
subj() { echo "/C=US/O=oxiresty tests/CN=$1"; }

# the CA and another one (for "client certificate from the wrong CA")
for ca in ca other-ca; do
    openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca.key -out $ca.crt -days $days \
        -subj "$(subj "$ca root")" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
done

leaf() { # name keyopts cn san signer [extra x509 opts]
    name=$1 keyopt=$2 cn=$3 san=$4 signer=$5
    shift 5
    openssl req -new -newkey $keyopt -nodes -keyout $name.key -out $name.csr -subj "$(subj "$cn")" 2>/dev/null
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$san" > $name.ext
    openssl x509 -req -in $name.csr -CA $signer.crt -CAkey $signer.key -CAcreateserial \
        -out $name.crt -extfile $name.ext "$@" 2>/dev/null
    rm -f $name.csr $name.ext
}
leaf test-rsa rsa:2048 test.com "DNS:test.com,DNS:*.test.com" ca -days $days
leaf test-ecdsa "ec -pkeyopt ec_paramgen_curve:prime256v1" test.com "DNS:test.com,DNS:*.test.com" ca -days $days
leaf other-name rsa:2048 other.org "DNS:other.org" ca -days $days
leaf client rsa:2048 "test client" "DNS:client" ca -days $days
leaf wrong-client rsa:2048 "wrong client" "DNS:client" other-ca -days $days
# (openssl x509 cannot date a certificate in the past; openssl ca can)
openssl req -new -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj "$(subj test.com)" 2>/dev/null
mkdir -p ca.db && : > ca.db/index && echo 01 > ca.db/serial
cat > ca.db/conf <<CONF
[ca]
default_ca = test
[test]
database = ca.db/index
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = any
[any]
commonName = supplied
CONF
openssl ca -batch -config ca.db/conf -cert ca.crt -keyfile ca.key -in expired.csr -out expired.crt \
    -startdate 20000101000000Z -enddate 20010101000000Z -notext 2>/dev/null
rm -rf ca.db expired.csr
# the leaf with its CA after it (a chain file as nginx takes it)
cat test-rsa.crt ca.crt > test-rsa-chain.crt
# an encrypted key and its ssl_password_file
openssl pkey -in test-rsa.key -aes256 -passout pass:s3cret -out test-rsa-enc.key
printf 'wrong\ns3cret\n' > passwords
# DH parameters for ssl_dhparam (DSA-style generation: quick)
openssl dhparam -dsaparam -out dhparam.pem 2048 2>/dev/null
# named by their server names, for ssl_certificate $ssl_server_name
cp test-rsa.crt test.com.crt; cp test-rsa.key test.com.key
cp other-name.crt other.org.crt; cp other-name.key other.org.key
# a stapled OCSP response for test-rsa.crt ("good"), signed by the CA itself
mkdir -p ocsp.db
serial=$(openssl x509 -in test-rsa.crt -noout -serial | cut -d= -f2)
subj=$(openssl x509 -in test-rsa.crt -noout -subject -nameopt compat | sed 's/^subject=//')
printf 'V\t991231235959Z\t\t%s\tunknown\t%s\n' "$serial" "$subj" > ocsp.db/index
openssl ocsp -issuer ca.crt -cert test-rsa.crt -reqout ocsp.db/req -no_nonce >/dev/null 2>&1
openssl ocsp -index ocsp.db/index -rsigner ca.crt -rkey ca.key -CA ca.crt -reqin ocsp.db/req \
    -respout test-rsa.ocsp -ndays 36500 >/dev/null 2>&1
rm -rf ocsp.db
# revoked leaves and the CA's revocation list naming them (ssl_crl, proxy_ssl_crl,
# lua_ssl_crl); good leaves are not on it
leaf revoked-client rsa:2048 "revoked client" "DNS:client" ca -days $days
leaf revoked-server rsa:2048 test.com "DNS:test.com" ca -days $days
mkdir -p crl.db && : > crl.db/index && echo 01 > crl.db/crlnumber
for c in revoked-client revoked-server; do
    serial=$(openssl x509 -in $c.crt -noout -serial | cut -d= -f2)
    subj=$(openssl x509 -in $c.crt -noout -subject -nameopt compat | sed 's/^subject=//')
    printf 'R\t991231235959Z\t240101000000Z\t%s\tunknown\t%s\n' "$serial" "$subj" >> crl.db/index
done
cat > crl.db/conf <<CONF
[ca]
default_ca = test
[test]
database = crl.db/index
crlnumber = crl.db/crlnumber
default_md = sha256
CONF
openssl ca -gencrl -config crl.db/conf -cert ca.crt -keyfile ca.key -crldays 36500 -out ca.crl 2>/dev/null
rm -rf crl.db
rm -f *.srl
