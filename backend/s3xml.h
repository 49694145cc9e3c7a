/*
 * s3xml.h - the few XML documents an S3 service answers with (issue 17; docs/s3.md "XML"):
 * a small, strict, bounded parser, rather than libxml2 (not among dvault's dependencies, and
 * a general parser with DTDs and entities is more than a handful of fixed shapes need).
 *
 * What it accepts: an optional UTF-8 byte-order mark and <?xml ...?> declaration, then one
 * root element; elements with attributes (read and ignored: xmlns); text with the five
 * predefined entities and numeric character references (&#N; &#xN;, a valid Unicode scalar
 * other than NUL). What it refuses, naming the byte offset: a DOCTYPE or any other <!...>
 * (so no entity expansion, no external references), CDATA, comments, processing instructions
 * after the declaration, unknown entities, mismatched or missing end tags, text beside child
 * elements, control characters and invalid UTF-8, more than S3XML_MAX_DEPTH levels, input over
 * S3XML_MAX_BYTES or more than S3XML_MAX_NODES elements, anything after the root. Memory is
 * linear in the input (strings copied once, at most S3XML_MAX_NODES nodes); time is linear.
 *
 * The typed readers on top (s3xml_error, s3xml_listing, s3xml_upload_id, s3xml_complete_etag) check
 * the root's name and the fields they use (sizes are decimal numbers, flags "true"/"false",
 * keys non-empty and at most 1024 bytes, a truncated listing carries its continuation).
 */
#ifndef DV_S3XML_H
#define DV_S3XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3XML_MAX_BYTES (16u << 20)
#define S3XML_MAX_DEPTH 16
#define S3XML_MAX_NODES (1 << 18)
#define S3_KEY_MAX 1024

struct s3xml_node {
    const char *name;
    const char *text;        /* decoded; "" for an element with children */
    int parent, child, next; /* indices into nodes; -1 for none */
};

struct s3xml_doc {
    char *strings; /* names and texts, NUL-terminated */
    struct s3xml_node *nodes;
    size_t n; /* nodes[0] is the root */
};

/* Parse len bytes: 0, or -1 with dv_err() ("xml: <what> at byte N"). */
int s3xml_parse(const char *in, size_t len, struct s3xml_doc *doc);
void s3xml_free(struct s3xml_doc *doc);
/* The first child of node named name (-1 if none); the next sibling after node of that name. */
int s3xml_child(const struct s3xml_doc *d, int node, const char *name);
int s3xml_next(const struct s3xml_doc *d, int node, const char *name);
/* The text of node's first child named name, or NULL. */
const char *s3xml_text(const struct s3xml_doc *d, int node, const char *name);

/* ---- typed readers ---------------------------------------------------------------------- */

/* An <Error> document: 0 with code and message (cut to their sizes), or -1 (not one). */
int s3xml_error(const char *in, size_t len, char *code, size_t ncode, char *msg, size_t nmsg);

struct s3_entry {
    char *key;
    uint64_t size;
    char *etag;          /* as sent, quotes removed */
    char *version_id;    /* versions listing */
    char *upload_id;     /* uploads listing */
    char *last_modified; /* as sent (ISO 8601) */
    bool is_latest, delete_marker;
};

enum s3_listing_kind {
    S3_LIST_OBJECTS,  /* ListBucketResult (ListObjectsV2) */
    S3_LIST_VERSIONS, /* ListVersionsResult */
    S3_LIST_UPLOADS,  /* ListMultipartUploadsResult */
};

struct s3_listing {
    struct s3_entry *v;
    size_t n;
    char **prefixes; /* CommonPrefixes (with a delimiter) */
    size_t nprefixes;
    bool truncated;
    char *next_token;          /* NextContinuationToken */
    char *next_key_marker;     /* versions, uploads */
    char *next_version_marker; /* NextVersionIdMarker */
    char *next_upload_marker;  /* NextUploadIdMarker */
};

/* One page of a listing of that kind: 0, or -1 with dv_err(). Free with s3_listing_free. */
int s3xml_listing(const char *in, size_t len, enum s3_listing_kind kind, struct s3_listing *out);
void s3_listing_free(struct s3_listing *l);
/* InitiateMultipartUploadResult's UploadId (malloc'd), or NULL with dv_err(). */
char *s3xml_upload_id(const char *in, size_t len);
/* CompleteMultipartUploadResult's ETag (malloc'd, quotes removed; "" when empty, as RGW 16
 * sends it), or NULL with dv_err() (an
 * <Error> document, which S3 may send with status 200, is reported with its code). */
char *s3xml_complete_etag(const char *in, size_t len);

#endif
