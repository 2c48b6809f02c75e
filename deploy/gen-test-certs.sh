#!/usr/bin/env bash
# Generates a throw-away CA and certificates for a trial run of
# deploy/origuard.toml (TLS on both sides, mutual). NOT for production: a
# deployment uses the agency's CA. Needs openssl.
# Usage: deploy/gen-test-certs.sh [DIR]   (default deploy/certs)
set -euo pipefail
dir=${1:-"$(dirname "$0")/certs"}
mkdir -p "$dir"
cd "$dir"
days=30
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
  -days "$days" -subj "/CN=origuard test CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
leaf() { # name san extendedKeyUsage
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$2" "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days "$days" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf proxy localhost serverAuth             # origuard toward the switch
leaf proxy-client origuard.test clientAuth  # origuard toward Nlets
leaf switch switch.test clientAuth          # the state switch (test client)
leaf nlets nlets.test serverAuth            # the Nlets endpoint (test server)
chmod 600 ./*.key
echo "test certificates in $dir: ca.pem proxy.pem proxy-client.pem switch.pem nlets.pem (+ .key)"
