package main

import "github.com/mdtools/mdtools/lib/cli"

const topDescription = `md-challenge answers ACME challenges with the same code md-order uses,
as three commands (each has its own --help):

  setup      put the challenge data of a task list in place: the store's
             challenges/<dns>/ files (http-01 key authorization, tls-alpn-01
             certificates), the webroot token file, or the dns-01 command
  teardown   remove it again (without --tasks: everything stored for the
             input MDs' domains)
  serve      a long-running http-01 and tls-alpn-01 responder that answers
             from the store for every MD, until SIGTERM or Ctrl-C

Examples:
  md-challenge serve --http :80 --tls :443 -d /var/lib/mdtools
  md-parse /etc/mdtools/md.toml | md-challenge setup --tasks tasks.jsonl
  md-parse /etc/mdtools/md.toml | md-challenge teardown`

const setupDescription = `Reads MD records (JSON Lines from md-parse, files or stdin) and a task
list, sets up every task for its record, and writes the records to stdout;
a record whose task failed carries an "error" (stage "challenge", problem
challenge-setup-failure or challenge-mismatch) and the exit status is 1.

A task list is JSON Lines, one challenge per line; "md" may be left out
when the domain belongs to exactly one record:

  {"md":"example.org","type":"http-01","domain":"www.example.org",
   "token":"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
   "key-authorization":"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"}

Types: http-01 (challenges/<dns>/acme-http-01.txt, plus
<host.webroot>/.well-known/acme-challenge/<token>), tls-alpn-01 (a
challenge certificate per key spec in challenges/<dns>/), dns-01 (runs
"<cmd-dns-01> setup <dns> <base64url(sha256(key-authorization))>").
Tokens, names and key authorizations are validated before anything is
written; a bad task list is exit 2 with nothing done. No store lock is
taken, so an MDMessageCmd hook of a running md-order may call it.

Examples:
  # another node of a cluster receives the challenge md-order set up here
  md-parse /etc/mdtools/md.toml | md-challenge setup --tasks /run/md/tasks.jsonl -d /var/lib/mdtools

  # records from a file, tasks from stdin
  ssh primary cat /run/md/tasks.jsonl | md-challenge setup --tasks - records.jsonl`

const teardownDescription = `Reads MD records and, with --tasks, removes the data of each task:
http-01 and tls-alpn-01 remove challenges/<dns>/ and the webroot token
file; dns-01 runs "<cmd-dns-01> teardown <dns>" (or "... <dns> <token>"
with MDChallengeDns01Version 2, which needs "key-authorization"). Only
"type" and "domain" are required. Without --tasks it removes the stored
http-01 and tls-alpn-01 data of every domain of the input MDs (dns-01
commands are not run then). Records go to stdout as for setup.

Examples:
  md-parse /etc/mdtools/md.toml | md-challenge teardown --tasks /run/md/tasks.jsonl
  md-parse /etc/mdtools/md.toml | md-challenge teardown    # clean all stored challenges

` + cli.StoreRule

const serveDescription = `Answers ACME challenges from the store for every MD until SIGTERM or
SIGINT, then stops cleanly (exit 0):

  --http ADDR  GET /.well-known/acme-challenge/<token>: 200 with the stored
               key authorization of the request's Host (as mod_md), 404 when
               nothing is stored, 501 for other methods
  --tls ADDR   TLS with ALPN acme-tls/1 only: the stored tls-alpn-01
               certificate for the SNI name (RSA first, then EC)

Run it where nothing else listens on :80/:443, or behind a web server that
proxies /.well-known/acme-challenge/ to it (then give md-order no listener).

On a store in etcd (--store etcd://...), run it on every node behind the load
balancer: it watches the store's challenges and holds them in memory, so
each node answers, at once, the challenges any node's md-order set up (what
it does not hold yet it reads from the store per request).

Examples:
  md-challenge serve --http :80 --tls :443 -d /var/lib/mdtools
  md-challenge serve --http 127.0.0.1:8080 -v
  md-challenge serve --http :80 --config /etc/mdtools/md.toml   # the config's store
  md-challenge serve --http :80 --tls :443 --store etcd://10.0.0.1:2379/mdtools   # a fleet
  # nginx in front of it (the Host header must be passed on):
  #   location /.well-known/acme-challenge/ {
  #     proxy_pass http://127.0.0.1:8080; proxy_set_header Host $host; }

The store: --config FILE's MDStoreDir / store-dir (as md-parse finds it),
else --store, else $MD_STORE, else the default; -v names it.`
