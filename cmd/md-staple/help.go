package main

import "github.com/mdtools/mdtools/lib/cli"

const description = `md-staple keeps a valid OCSP response on disk for every installed
certificate of the MDs it reads (JSON Lines records from md-parse/md-order/
md-install on stdin or in files, or --all MDs of the store), and for extra
certificate chains given with --cert. For each key spec's certificate it
POSTs an OCSP request for the leaf to the responder in its AIA extension,
verifies the answer (successful, for this certificate, signed by the
issuer or a delegated OCSP responder, thisUpdate/nextUpdate sane) and
stores it as mod_md does:

   <store>/ocsp/<md>/ocsp-<sha1 of cert DER>.json   response, status, valid
   <store>/ocsp/<md>/job.json                       OCSP job log, backoff
   <store>/ocsp/<md>/crl-status-<id>.json           CRL verdict (no OCSP)
   <deploy-dir>/<md>/combined[.<spec>].pem.ocsp     DER for HAProxy/nginx
                                                    (when the record has
                                                    host.deploy)

A request is made only when no response is stored or the stored one is in
its renew window (MDStaplingRenewWindow, default 33% of its validity);
otherwise nothing goes over the network. A failing responder keeps the last
good response and is retried after MDRetryDelay, doubled per failure up to a
day. Certificates whose CA runs no OCSP responder (Let's Encrypt since 2025)
are checked against their CRL instead (verified, cached in ocsp/<md>/). A
revoked certificate is recorded, and md-order renews its MD on its next run.
Revocation is checked for every MD; with stapling off nothing is deployed,
no event is raised and a failed check is only a warning.

Records pass through with a "staple" section added; stdout is only the
JSON stream. Exit 0 all fine, 1 a record failed (e.g. responder down),
2 usage or input error, 3 store locked by another run.

Watch mode (--watch, a store in etcd): md-staple stays running, brings every
MD up to date once at start, then, as soon as any node stores a new OCSP
response for one of its MDs, writes it next to this node's certificate
(host.deploy) without asking the responder again; a response whose
certificate md-install has not deployed here yet is tried again after 5 s,
then twice as long each time up to 10 minutes. SIGTERM stops it (exit 0).

Examples:
   # the whole cycle, from cron
   md-parse /etc/apache2/apache2.conf | md-order | md-install | md-staple

   # refresh the responses of every installed MD, verbosely
   md-staple --all -v

   # the same for the store Apache's config names (MDStoreDir or ServerRoot/md)
   md-staple --all --config /etc/apache2/apache2.conf

   # a certificate outside any MD, e.g. for HAProxy (writes site.pem.ocsp)
   md-staple --cert /etc/haproxy/certs/site.pem --cert-ocsp-file

   # every node of a fleet on one etcd store: deploy what any node fetched
   md-parse /etc/mdtools/md.toml | md-staple --watch --store etcd://10.0.0.1:2379/mdtools

   # what is stapled and until when
   md-staple --all | jq -c '.name as $n | .staple.responses[] | [$n, .spec, .status, .valid.until]'

   # nginx, for an MD deployed to /etc/ssl/md (md.toml deploy.dir):
   #   ssl_stapling on;
   #   ssl_stapling_file /etc/ssl/md/example.org/combined.pem.ocsp;

   # fetch now, through a proxy
   md-staple --all --force --http-proxy http://proxy.example:3128

   # through an HTTPS proxy whose certificate comes from a private CA
   md-staple --all --http-proxy https://proxy.example:3129 \
       --http-proxy-ca-file /etc/ssl/proxy-ca.pem

` + cli.StoreRule
