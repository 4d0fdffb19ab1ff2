// Package staple keeps OCSP responses for installed certificates, as
// mod_md's stapling does (mod_md-spec §7), for web servers that read them
// from files (nginx ssl_stapling_file, HAProxy <cert>.ocsp) and for Apache
// with mod_md serving from the same store.
//
// For every certificate it builds an OCSP request from the leaf and its
// issuer, POSTs it to the responder named in the certificate's AIA,
// verifies the answer (parse, status, cert ID, signature by the issuer or
// a delegated responder, sane thisUpdate/nextUpdate) and stores it as
// mod_md does: ocsp/<md>/ocsp-<sha1 of cert DER>.json. A response is
// fetched only when none is stored or the stored one is inside its renew
// window; a failing responder is retried with mod_md's backoff and the last
// good response is kept. Certificates without an OCSP responder (Let's
// Encrypt since 2025) are checked against their CRL instead. A revoked
// certificate is recorded so that md-order renews it (see HasRevoked).
//
// Decisions are pure functions of an injected time (Due, RenewAt, Backoff);
// the Runner does the I/O.
package staple
