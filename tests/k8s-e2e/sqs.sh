# tests/k8s-e2e/sqs.sh: SQS scenarios of tests/k8s-e2e.sh (sourced; see README.md here).
#
#   17 sqs-sigkill  the coordinator SIGKILLed mid-run with --results sqs: `cnd k8s cleanup RUN`
#                   removes the Job, its pods and the run's queue
#   18 sqs-https    moto behind a TLS terminator (a test CA made here, a server certificate
#                   for 10.88.77.1): pods verify it through --ca-configmap and find a nonce
#                   over https; without the CA they refuse the endpoint; nothing is left
#
# moto_server runs on the pod bridge (10.88.77.1), as in scenario 9. Every look at the queues
# goes through sqs_list, which fails the scenario when the query fails: an unreachable
# moto never reads as "no queue left".

scenario 17 sqs-sigkill s17_sqs_sigkill
scenario 18 sqs-https s18_sqs_https

# sqs_start PORT: moto_server on 10.88.77.1:PORT (log in $SDIR), its pid in MOTO_PID
sqs_start() {
	local port=$1 moto
	moto=$(command -v moto_server || true)
	[[ -n $moto ]] || { fail "moto_server is not installed (pip install 'moto[server]')"; return 1; }
	"$moto" -H 10.88.77.1 -p "$port" >"$SDIR/moto-$port.log" 2>&1 &
	MOTO_PID=$!
	BG_PIDS+=("$MOTO_PID")
	for _ in $(seq 1 100); do
		curl -s -o /dev/null --max-time 1 "http://10.88.77.1:$port/" && return 0
		sleep 0.2
	done
	fail "moto_server did not answer on 10.88.77.1:$port within 20s"
	return 1
}
# sqs_env NAME: dummy credentials here and, as Secret NAME, in the pods
sqs_env() {
	kubectl delete secret "$1" -n "$NS" --ignore-not-found >/dev/null 2>&1
	export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
	kubectl create secret generic "$1" -n "$NS" --from-literal=AWS_ACCESS_KEY_ID=testing \
		--from-literal=AWS_SECRET_ACCESS_KEY=testing --from-literal=AWS_REGION=us-east-1 >/dev/null 2>&1 ||
		fail "kubectl create secret $1 failed"
}
# sqs_list ENDPOINT [CA]: sets QUEUES to the queue URLs, one a line. Run it in this shell (not
# in $(...)): when the query fails (no answer, an HTTP error, not a ListQueues answer) it
# fails the scenario and returns 1, so an unreachable moto never reads as "no queue left".
sqs_list() {
	local ep=$1 ca=${2:-} out
	local opts=(-sS --max-time 10 -f)
	[[ -n $ca ]] && opts+=(--cacert "$ca")
	# a POST signed (in name) for the sqs service: moto takes an unsigned GET for S3
	opts+=(-X POST -H "Authorization: AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
	opts+=(--data "Action=ListQueues&Version=2012-11-05")
	QUEUES=""
	if ! out=$(curl "${opts[@]}" "$ep/" 2>&1) || ! grep -q 'ListQueuesResponse' <<<"$out"; then
		fail "could not list the SQS queues at $ep: $(head -c 200 <<<"$out" | tr '\n' ' ')"
		return 1
	fi
	QUEUES=$(grep -o '<QueueUrl>[^<]*' <<<"$out" | sed 's/<QueueUrl>//')
	return 0
}

s17_sqs_sigkill() {
	local ep=http://10.88.77.1:15017 pid run queues t
	sqs_start 15017 || return
	sqs_env cnd-e2e-aws17
	# a problem the pods cannot finish: they run until the cleanup deletes the Job
	echo "+ cnd ${K8S[*]} --workers 2 --cpu 0.1 -d 64 --timeout 600s --results sqs --sqs-endpoint-url $ep --aws-secret cnd-e2e-aws17 (SIGKILL the coordinator)" >"$SDIR/cnd.cmd"
	"$CND" "${K8S[@]}" --workers 2 --cpu 0.1 -d 64 --timeout 600s --results sqs --sqs-endpoint-url "$ep" \
		--aws-secret cnd-e2e-aws17 >"$SDIR/cnd.out" 2>"$SDIR/cnd.err" &
	pid=$!
	BG_PIDS+=("$pid")
	if ! wait_pods_running 2 90 "$pid"; then
		fail "pods never ran ($(errline cnd))"
		kill -KILL "$pid" 2>/dev/null
	fi
	sqs_list "$ep" || { kill -KILL "$pid" 2>/dev/null; return; }
	queues=$QUEUES
	run=$(kubectl get jobs -n "$NS" -l "$LABEL" -o jsonpath='{.items[0].metadata.labels.cnd\.dev/run-id}' 2>/dev/null)
	grep -q "/cnd-$run\$" <<<"$queues" || fail "no queue cnd-$run while the run goes (queues: ${queues:-none})"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[[ -n $run ]] || { fail "no Job left after SIGKILL of the coordinator"; return; }
	sqs_list "$ep" || return
	queues=$QUEUES
	grep -q "/cnd-$run\$" <<<"$queues" || fail "the queue of run $run vanished before the cleanup"
	note "SIGKILL left Job cnd-$run and queue cnd-$run"

	run_cnd cleanup 90 k8s cleanup "$run" --namespace "$NS" --json
	[[ $RC == 0 ]] || fail "cnd k8s cleanup $run: exit $RC, expected 0 ($(errline cleanup))"
	python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 60 else 1)" "$ELAPSED" ||
		fail "cnd k8s cleanup took ${ELAPSED}s (bound 60s)"
	grep -q "\"cnd-$run\"" "$SDIR/cleanup.out" || fail "cleanup's JSON does not list Job cnd-$run: $(head -c 300 "$SDIR/cleanup.out")"
	grep -q "\"queue_url\":\"[^\"]*/cnd-$run\"" "$SDIR/cleanup.out" ||
		fail "cleanup's JSON does not list the queue: $(head -c 300 "$SDIR/cleanup.out")"
	sqs_list "$ep" || return
	queues=$QUEUES
	[[ -z $queues ]] || fail "queues left after cnd k8s cleanup: $queues"
	note "cnd k8s cleanup removed the Job and the queue in ${ELAPSED}s; ListQueues answers with none"

	# cnd sqs cleanup: bad input names the flags; a run with no queue left is nothing to do
	run_cnd sqsbad 30 sqs cleanup --sqs-endpoint-url "$ep"
	[[ $RC == 2 ]] && grep -q -- '--older-than' "$SDIR/sqsbad.err" ||
		fail "cnd sqs cleanup without --run/--older-than: exit $RC ($(errline sqsbad)), expected 2 naming the flags"
	run_cnd sqsnone 30 sqs cleanup --run "$run" --sqs-endpoint-url "$ep" --json
	[[ $RC == 0 ]] && grep -q '"deleted_queues":\[\]' "$SDIR/sqsnone.out" ||
		fail "cnd sqs cleanup --run $run afterwards: exit $RC, $(head -c 200 "$SDIR/sqsnone.out")"
	kubectl delete secret cnd-e2e-aws17 -n "$NS" --wait=false >/dev/null 2>&1
	kill "$MOTO_PID" 2>/dev/null
	# with moto gone, the query fails loudly (and cnd sqs cleanup exits 1): never "no queue"
	wait "$MOTO_PID" 2>/dev/null
	local saved=$FAILMSG
	if sqs_list "$ep"; then fail "sqs_list did not fail with moto stopped"; fi
	FAILMSG=$saved
	run_cnd sqsdown 60 sqs cleanup --older-than 0s --sqs-endpoint-url "$ep"
	[[ $RC == 1 ]] || fail "cnd sqs cleanup with moto stopped: exit $RC, expected 1"
	note "with moto stopped: the query fails, cnd sqs cleanup exits 1 ($(errline sqsdown | cut -c1-90))"
}

# tls_proxy FILE: writes a TLS terminator (python3 FILE CERT KEY LISTEN UPSTREAM: https on
# 10.88.77.1:LISTEN -> http on 10.88.77.1:UPSTREAM, one log line per handshake with the client's
# address and the TLS version)
tls_proxy() {
	cat >"$1" <<'PY'
import asyncio, ssl, sys
cert, key, listen, upstream = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)

async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()

async def handle(cr, cw):
    peer = cw.get_extra_info("peername")[0]
    version = cw.get_extra_info("ssl_object").version()
    print("tls", peer, version, flush=True)
    try:
        ur, uw = await asyncio.open_connection("10.88.77.1", upstream)
    except Exception as e:
        print("upstream:", e, flush=True)
        cw.close()
        return
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))

async def main():
    server = await asyncio.start_server(handle, "10.88.77.1", listen, ssl=ctx)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
PY
}

s18_sqs_https() {
	local ep=https://10.88.77.1:15443 d=$SDIR/tls proxy queues pods
	mkdir -p "$d"
	# the image carries a CA bundle at the path the TLS client reads
	if python3 - "$ARCHIVE" <<'PY' >"$SDIR/image-ca.txt" 2>&1; then
import io, json, sys, tarfile
with tarfile.open(sys.argv[1]) as oci:
    blob = lambda digest: oci.extractfile("blobs/" + digest.replace(":", "/")).read()
    index = json.loads(oci.extractfile("index.json").read())
    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as t:
            for m in t.getmembers():
                if m.name.lstrip("./") == "etc/ssl/certs/ca-certificates.crt":
                    n = t.extractfile(m).read().count(b"BEGIN CERTIFICATE")
                    print(f"{m.name}: {n} certificates")
                    sys.exit(0 if n > 0 else 1)
sys.exit(1)
PY
		note "image: $(cat "$SDIR/image-ca.txt")"
	else
		fail "the image has no CA bundle at /etc/ssl/certs/ca-certificates.crt ($(tail -1 "$SDIR/image-ca.txt"))"
	fi
	# a test CA and a server certificate for 10.88.77.1 (IP SAN)
	if ! {
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 1 \
			-subj "/CN=cnd e2e test CA" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -newkey rsa:2048 -nodes -keyout "$d/srv.key" -out "$d/srv.csr" -subj "/CN=10.88.77.1" &&
			printf 'subjectAltName=IP:10.88.77.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$d/srv.ext" &&
			openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
				-out "$d/srv.crt" -days 1 -extfile "$d/srv.ext"
	} >"$d/openssl.log" 2>&1; then
		fail "openssl could not make the test CA ($(tail -1 "$d/openssl.log"))"
		return
	fi
	sqs_start 15018 || return
	tls_proxy "$d/tls_proxy.py"
	python3 "$d/tls_proxy.py" "$d/srv.crt" "$d/srv.key" 15443 15018 >"$SDIR/tls-proxy.log" 2>&1 &
	proxy=$!
	BG_PIDS+=("$proxy")
	for _ in $(seq 1 50); do grep -q listening "$SDIR/tls-proxy.log" && break; sleep 0.1; done
	grep -q listening "$SDIR/tls-proxy.log" || { fail "the TLS terminator did not start: $(tail -2 "$SDIR/tls-proxy.log" | tr '\n' ' ')"; return; }
	sqs_list "$ep" "$d/ca.crt" || return
	queues=$QUEUES
	sqs_env cnd-e2e-aws18
	kubectl delete configmap cnd-e2e-ca -n "$NS" --ignore-not-found >/dev/null 2>&1
	kubectl create configmap cnd-e2e-ca -n "$NS" --from-file=ca.crt="$d/ca.crt" >/dev/null 2>&1 ||
		fail "kubectl create configmap cnd-e2e-ca failed"
	local saved_cert=${SSL_CERT_FILE-}
	export SSL_CERT_FILE=$d/ca.crt

	# the coordinator trusts the test CA through SSL_CERT_FILE, the pods through --ca-configmap
	run_cnd cnd 180 "${K8S[@]}" --workers 2 --cpu 0.5 -d 20 --timeout 120s --json --results sqs \
		--sqs-endpoint-url "$ep" --aws-secret cnd-e2e-aws18 --ca-configmap cnd-e2e-ca
	[[ $RC == 0 ]] || fail "over https with --ca-configmap: exit $RC, expected 0 ($(errline cnd))"
	check_found cnd "$BLOCK_DEFAULT" 20
	NONCE=""
	pods=$(grep '^tls ' "$SDIR/tls-proxy.log" | awk '$2 != "10.88.77.1" {print $2}' | sort -u | xargs)
	[[ -n $pods ]] || fail "no TLS connection from a pod reached the terminator (log: $(tail -3 "$SDIR/tls-proxy.log" | tr '\n' ' '))"
	note "pods $pods spoke $(grep -m1 '^tls ' "$SDIR/tls-proxy.log" | awk '{print $3}') to $ep"
	wait_gone 30 >/dev/null

	# without the CA the pods refuse the endpoint: the certificate is really checked
	run_cnd noca 150 "${K8S[@]}" --workers 1 --cpu 0.5 -d 20 --timeout 100s --results sqs \
		--sqs-endpoint-url "$ep" --aws-secret cnd-e2e-aws18
	[[ $RC == 1 ]] || fail "pods without the test CA: exit $RC, expected 1 ($(errline noca))"
	note "without --ca-configmap: exit $RC in ${ELAPSED}s ($(errline noca | cut -c1-120))"

	# the host binary: the system bundle alone does not trust the test CA either
	SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt run_cnd hostnoca 60 sqs cleanup --older-than 0s --sqs-endpoint-url "$ep"
	[[ $RC == 1 ]] && grep -qi 'certificate\|unknownissuer' "$SDIR/hostnoca.err" ||
		fail "cnd with the system CAs only against the test CA: exit $RC ($(errline hostnoca)), expected 1 naming the certificate"
	export SSL_CERT_FILE=$saved_cert
	[[ -n $saved_cert ]] || unset SSL_CERT_FILE

	sqs_list "$ep" "$d/ca.crt" || return
	queues=$QUEUES
	[[ -z $queues ]] || fail "queues left: $queues"
	note "no queue left"
	kubectl delete secret cnd-e2e-aws18 -n "$NS" --wait=false >/dev/null 2>&1
	kubectl delete configmap cnd-e2e-ca -n "$NS" --wait=false >/dev/null 2>&1
	kill "$proxy" "$MOTO_PID" 2>/dev/null
}
