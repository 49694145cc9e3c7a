/* s3xml.c - a small strict XML parser for S3's answers, and the typed readers (s3xml.h). */
#include "s3xml.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct px {
    const char *in;
    size_t len, pos;
    char *out; /* strings arena */
    size_t on;
    struct s3xml_node *nodes;
    size_t n, cap;
};

static int bad(const struct px *p, const char *what)
{
    dv_seterr("xml: %s at byte %zu", what, p->pos);
    return -1;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_space(struct px *p)
{
    while (p->pos < p->len && is_space(p->in[p->pos]))
        p->pos++;
}

static bool name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool name_char(unsigned char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
}

static bool at(const struct px *p, const char *s)
{
    size_t n = strlen(s);
    return p->len - p->pos >= n && memcmp(p->in + p->pos, s, n) == 0;
}

/* a name at pos: its start and length; 0 or -1 */
static int read_name(struct px *p, size_t *start, size_t *n)
{
    *start = p->pos;
    if (p->pos >= p->len || !name_start((unsigned char)p->in[p->pos]))
        return bad(p, "expected a name");
    while (p->pos < p->len && name_char((unsigned char)p->in[p->pos]))
        p->pos++;
    *n = p->pos - *start;
    if (*n > 256)
        return bad(p, "a name over 256 bytes");
    return 0;
}

static const char *put_str(struct px *p, const char *s, size_t n)
{
    char *d = p->out + p->on;
    memcpy(d, s, n);
    d[n] = 0;
    p->on += n + 1;
    return d;
}

/* length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t k = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!k || k > n || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    uint32_t cp = k == 2 ? (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f)
                  : k == 3
                      ? (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f)
                      : (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
                            (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return k;
}

static size_t put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | cp >> 12);
        d[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | cp >> 18);
    d[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    d[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* an entity at pos ('&'): decoded into d (when not NULL); bytes written, or -1 */
static int entity(struct px *p, char *d)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (at(p, named[i].name)) {
            p->pos += strlen(named[i].name);
            if (d)
                d[0] = named[i].c;
            return 1;
        }
    if (!at(p, "&#"))
        return bad(p, "an unknown entity (only &lt; &gt; &amp; &quot; &apos; and &#N;)");
    size_t q = p->pos + 2;
    bool hex = q < p->len && p->in[q] == 'x';
    q += hex;
    uint32_t cp = 0;
    size_t digits = 0;
    for (; q < p->len && p->in[q] != ';'; q++, digits++) {
        char c = p->in[q];
        int v = c >= '0' && c <= '9'          ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (v < 0 || digits >= 8)
            return bad(p, "a malformed character reference");
        cp = cp * (hex ? 16 : 10) + (uint32_t)v;
    }
    if (q >= p->len || !digits || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
        (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r'))
        return bad(p, "a malformed character reference");
    p->pos = q + 1;
    char tmp[4];
    return (int)put_utf8(d ? d : tmp, cp);
}

/* attributes up to '>' or "/>" (read, checked, ignored); 1 if self-closing, 0, or -1 */
static int attributes(struct px *p)
{
    for (;;) {
        bool had_space = p->pos < p->len && is_space(p->in[p->pos]);
        skip_space(p);
        if (p->pos >= p->len)
            return bad(p, "a tag that does not end");
        if (at(p, "/>")) {
            p->pos += 2;
            return 1;
        }
        if (p->in[p->pos] == '>') {
            p->pos++;
            return 0;
        }
        size_t s, n;
        if (!had_space)
            return bad(p, "expected a space before an attribute");
        if (read_name(p, &s, &n) < 0)
            return -1;
        skip_space(p);
        if (p->pos >= p->len || p->in[p->pos] != '=')
            return bad(p, "expected '=' after an attribute name");
        p->pos++;
        skip_space(p);
        char quote = p->pos < p->len ? p->in[p->pos] : 0;
        if (quote != '"' && quote != '\'')
            return bad(p, "an attribute value without quotes");
        p->pos++;
        while (p->pos < p->len && p->in[p->pos] != quote) {
            if (p->in[p->pos] == '<')
                return bad(p, "'<' in an attribute value");
            if (p->in[p->pos] == '&') {
                if (entity(p, NULL) < 0)
                    return -1;
            } else {
                p->pos++;
            }
        }
        if (p->pos >= p->len)
            return bad(p, "an attribute value that does not end");
        p->pos++;
    }
}

static int new_node(struct px *p, size_t ns, size_t nn, int parent, int *prev_sibling)
{
    if (p->n == S3XML_MAX_NODES)
        return bad(p, "more elements than the limit");
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->nodes = dv_realloc(p->nodes, p->cap * sizeof *p->nodes);
    }
    int id = (int)p->n++;
    p->nodes[id] = (struct s3xml_node){put_str(p, p->in + ns, nn), "", parent, -1, -1};
    if (parent >= 0) {
        if (*prev_sibling >= 0)
            p->nodes[*prev_sibling].next = id;
        else
            p->nodes[parent].child = id;
        *prev_sibling = id;
    }
    return id;
}

/* text up to the next '<': decoded into the arena; *blank if only white space */
static int text(struct px *p, const char **out, bool *blank)
{
    char *d = p->out + p->on, *o = d;
    *blank = true;
    while (p->pos < p->len && p->in[p->pos] != '<') {
        unsigned char c = (unsigned char)p->in[p->pos];
        if (c == '&') {
            int k = entity(p, o);
            if (k < 0)
                return -1;
            o += k;
            *blank = false;
            continue;
        }
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return bad(p, "a control character in text");
        if (c == '>' && p->pos >= 2 && p->in[p->pos - 1] == ']' && p->in[p->pos - 2] == ']')
            return bad(p, "']]>' in text");
        size_t k = utf8_len((const unsigned char *)p->in + p->pos, p->len - p->pos);
        if (!k)
            return bad(p, "invalid UTF-8");
        if (!is_space((char)c))
            *blank = false;
        memcpy(o, p->in + p->pos, k);
        o += k;
        p->pos += k;
    }
    *o = 0;
    p->on += (size_t)(o - d) + 1;
    *out = d;
    return 0;
}

/* the root element and everything in it, iteratively (the depth is bounded) */
static int element_tree(struct px *p)
{
    int stack[S3XML_MAX_DEPTH + 1], last[S3XML_MAX_DEPTH + 1];
    int depth = 0;
    for (;;) {
        if (p->pos >= p->len)
            return bad(p, depth ? "an element that does not end" : "no root element");
        if (at(p, "</")) {
            if (!depth)
                return bad(p, "an end tag without a start");
            p->pos += 2;
            size_t s, n;
            if (read_name(p, &s, &n) < 0)
                return -1;
            const char *open = p->nodes[stack[depth - 1]].name;
            if (strlen(open) != n || memcmp(open, p->in + s, n) != 0)
                return bad(p, "an end tag that does not match its start");
            skip_space(p);
            if (p->pos >= p->len || p->in[p->pos] != '>')
                return bad(p, "an end tag that does not end");
            p->pos++;
            if (--depth == 0)
                return 0;
        } else if (at(p, "<!") || at(p, "<?")) {
            return bad(p, at(p, "<!DOCTYPE")   ? "a DOCTYPE (refused)"
                          : at(p, "<![CDATA[") ? "CDATA (refused)"
                          : at(p, "<!--")      ? "a comment (refused)"
                                               : "a declaration or instruction (refused)");
        } else if (p->in[p->pos] == '<') {
            if (depth == S3XML_MAX_DEPTH)
                return bad(p, "elements nested too deep");
            p->pos++;
            size_t s, n;
            if (read_name(p, &s, &n) < 0)
                return -1;
            if (depth && p->nodes[stack[depth - 1]].text[0])
                return bad(p, "text beside child elements");
            int id =
                new_node(p, s, n, depth ? stack[depth - 1] : -1, depth ? &last[depth - 1] : NULL);
            if (id < 0)
                return -1;
            int sc = attributes(p);
            if (sc < 0)
                return -1;
            if (sc == 1) {
                if (depth == 0)
                    return 0;
                continue;
            }
            stack[depth] = id;
            last[depth] = -1;
            depth++;
        } else {
            if (!depth)
                return bad(p, "text outside the root element");
            const char *t;
            bool blank;
            if (text(p, &t, &blank) < 0)
                return -1;
            struct s3xml_node *cur = &p->nodes[stack[depth - 1]];
            if (!blank && cur->child >= 0)
                return bad(p, "text beside child elements");
            if (!blank || (cur->child < 0 && p->pos < p->len && at(p, "</")))
                cur->text = t;
        }
    }
}

int s3xml_parse(const char *in, size_t len, struct s3xml_doc *doc)
{
    memset(doc, 0, sizeof *doc);
    struct px p = {.in = in, .len = len};
    if (len > S3XML_MAX_BYTES) {
        dv_seterr("xml: %zu bytes, over the limit of %u", len, S3XML_MAX_BYTES);
        return -1;
    }
    p.out = dv_malloc(2 * len + 2);
    if (at(&p, "\xef\xbb\xbf"))
        p.pos += 3;
    if (at(&p, "<?xml")) {
        p.pos += 5;
        if (p.pos >= len || !is_space(in[p.pos]))
            goto fail_decl;
        while (p.pos + 1 < len && !(in[p.pos] == '?' && in[p.pos + 1] == '>')) {
            if (in[p.pos] == '<' || in[p.pos] == '>')
                goto fail_decl;
            p.pos++;
        }
        if (p.pos + 1 >= len)
            goto fail_decl;
        p.pos += 2;
    }
    skip_space(&p);
    if (element_tree(&p) < 0)
        goto fail;
    skip_space(&p);
    if (p.pos != len) {
        bad(&p, "something after the root element");
        goto fail;
    }
    doc->strings = p.out;
    doc->nodes = p.nodes;
    doc->n = p.n;
    return 0;
fail_decl:
    bad(&p, "a malformed <?xml ...?> declaration");
fail:
    free(p.out);
    free(p.nodes);
    return -1;
}

void s3xml_free(struct s3xml_doc *doc)
{
    free(doc->strings);
    free(doc->nodes);
    memset(doc, 0, sizeof *doc);
}

int s3xml_child(const struct s3xml_doc *d, int node, const char *name)
{
    if (node < 0 || (size_t)node >= d->n)
        return -1;
    for (int c = d->nodes[node].child; c >= 0; c = d->nodes[c].next)
        if (strcmp(d->nodes[c].name, name) == 0)
            return c;
    return -1;
}

int s3xml_next(const struct s3xml_doc *d, int node, const char *name)
{
    for (int c = node >= 0 ? d->nodes[node].next : -1; c >= 0; c = d->nodes[c].next)
        if (strcmp(d->nodes[c].name, name) == 0)
            return c;
    return -1;
}

const char *s3xml_text(const struct s3xml_doc *d, int node, const char *name)
{
    int c = s3xml_child(d, node, name);
    return c < 0 ? NULL : d->nodes[c].text;
}

/* ---- typed readers ---------------------------------------------------------------------- */

static void copy_cut(char *dst, size_t n, const char *src)
{
    if (n)
        snprintf(dst, n, "%s", src ? src : "");
}

int s3xml_error(const char *in, size_t len, char *code, size_t ncode, char *msg, size_t nmsg)
{
    struct s3xml_doc d;
    if (s3xml_parse(in, len, &d) < 0)
        return -1;
    int rc = -1;
    if (strcmp(d.nodes[0].name, "Error") == 0 && s3xml_text(&d, 0, "Code")) {
        copy_cut(code, ncode, s3xml_text(&d, 0, "Code"));
        copy_cut(msg, nmsg, s3xml_text(&d, 0, "Message"));
        rc = 0;
    }
    s3xml_free(&d);
    return rc;
}

static char *dup_or_null(const char *s)
{
    return s ? dv_strdup(s) : NULL;
}

static char *unquote(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        return dv_asprintf("%.*s", (int)(n - 2), s + 1);
    return dv_strdup(s);
}

static int parse_flag(const char *s, bool *out, const char *what)
{
    if (!s) {
        *out = false;
        return 0;
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *out = s[0] == 't';
        return 0;
    }
    dv_seterr("xml: %s is '%s', not true or false", what, dv_esc(s));
    return -1;
}

static int read_entry(const struct s3xml_doc *d, int node, enum s3_listing_kind kind,
                      struct s3_entry *e)
{
    const char *key = s3xml_text(d, node, "Key");
    if (!key || !*key || strlen(key) > S3_KEY_MAX) {
        dv_seterr("xml: a <%s> without a key of 1 to %d bytes", d->nodes[node].name, S3_KEY_MAX);
        return -1;
    }
    e->key = dv_strdup(key);
    e->delete_marker = strcmp(d->nodes[node].name, "DeleteMarker") == 0;
    const char *size = s3xml_text(d, node, "Size");
    if (size) {
        long long v = 0;
        for (const char *c = size; *c; c++) {
            if (*c < '0' || *c > '9' || v > (INT64_MAX - 9) / 10) {
                dv_seterr("xml: the size of '%s' is '%s'", dv_esc(key), dv_esc(size));
                return -1;
            }
            v = v * 10 + (*c - '0');
        }
        if (!*size) {
            dv_seterr("xml: the size of '%s' is empty", dv_esc(key));
            return -1;
        }
        e->size = (uint64_t)v;
    } else if (kind == S3_LIST_OBJECTS || (kind == S3_LIST_VERSIONS && !e->delete_marker)) {
        dv_seterr("xml: '%s' has no size", dv_esc(key));
        return -1;
    }
    e->etag = unquote(s3xml_text(d, node, "ETag"));
    e->last_modified = dup_or_null(s3xml_text(d, node, "LastModified"));
    e->version_id = dup_or_null(s3xml_text(d, node, "VersionId"));
    e->upload_id = dup_or_null(s3xml_text(d, node, "UploadId"));
    if (kind == S3_LIST_VERSIONS && !e->version_id) {
        dv_seterr("xml: the version of '%s' has no VersionId", dv_esc(key));
        return -1;
    }
    if (kind == S3_LIST_UPLOADS && !e->upload_id) {
        dv_seterr("xml: the upload of '%s' has no UploadId", dv_esc(key));
        return -1;
    }
    return parse_flag(s3xml_text(d, node, "IsLatest"), &e->is_latest, "IsLatest");
}

static bool entry_node(const struct s3xml_doc *d, int c, enum s3_listing_kind kind)
{
    const char *nm = d->nodes[c].name;
    switch (kind) {
    case S3_LIST_OBJECTS:
        return strcmp(nm, "Contents") == 0;
    case S3_LIST_VERSIONS:
        return strcmp(nm, "Version") == 0 || strcmp(nm, "DeleteMarker") == 0;
    case S3_LIST_UPLOADS:
        return strcmp(nm, "Upload") == 0;
    }
    return false;
}

static int listing_body(const struct s3xml_doc *d, enum s3_listing_kind kind,
                        struct s3_listing *out)
{
    static const char *roots[] = {"ListBucketResult", "ListVersionsResult",
                                  "ListMultipartUploadsResult"};
    if (strcmp(d->nodes[0].name, roots[kind]) != 0) {
        dv_seterr("xml: expected <%s>, got <%s>", roots[kind], dv_esc(d->nodes[0].name));
        return -1;
    }
    size_t cap = 0, pcap = 0;
    for (int c = d->nodes[0].child; c >= 0; c = d->nodes[c].next) {
        if (entry_node(d, c, kind)) {
            if (out->n == cap) {
                cap = cap ? 2 * cap : 64;
                out->v = dv_realloc(out->v, cap * sizeof *out->v);
            }
            memset(&out->v[out->n], 0, sizeof out->v[0]);
            if (read_entry(d, c, kind, &out->v[out->n++]) < 0)
                return -1;
        } else if (strcmp(d->nodes[c].name, "CommonPrefixes") == 0) {
            const char *pfx = s3xml_text(d, c, "Prefix");
            if (!pfx) {
                dv_seterr("xml: <CommonPrefixes> without a <Prefix>");
                return -1;
            }
            if (out->nprefixes == pcap) {
                pcap = pcap ? 2 * pcap : 16;
                out->prefixes = dv_realloc(out->prefixes, pcap * sizeof *out->prefixes);
            }
            out->prefixes[out->nprefixes++] = dv_strdup(pfx);
        }
    }
    if (parse_flag(s3xml_text(d, 0, "IsTruncated"), &out->truncated, "IsTruncated") < 0)
        return -1;
    out->next_token = dup_or_null(s3xml_text(d, 0, "NextContinuationToken"));
    out->next_key_marker = dup_or_null(s3xml_text(d, 0, "NextKeyMarker"));
    out->next_version_marker = dup_or_null(s3xml_text(d, 0, "NextVersionIdMarker"));
    out->next_upload_marker = dup_or_null(s3xml_text(d, 0, "NextUploadIdMarker"));
    const char *next = kind == S3_LIST_OBJECTS ? out->next_token : out->next_key_marker;
    if (out->truncated && (!next || !*next || strlen(next) > 4096)) {
        dv_seterr("xml: a truncated listing without its continuation");
        return -1;
    }
    return 0;
}

int s3xml_listing(const char *in, size_t len, enum s3_listing_kind kind, struct s3_listing *out)
{
    memset(out, 0, sizeof *out);
    struct s3xml_doc d;
    if (s3xml_parse(in, len, &d) < 0)
        return -1;
    int rc = listing_body(&d, kind, out);
    s3xml_free(&d);
    if (rc < 0)
        s3_listing_free(out);
    return rc;
}

void s3_listing_free(struct s3_listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].key);
        free(l->v[i].etag);
        free(l->v[i].version_id);
        free(l->v[i].upload_id);
        free(l->v[i].last_modified);
    }
    for (size_t i = 0; i < l->nprefixes; i++)
        free(l->prefixes[i]);
    free(l->v);
    free(l->prefixes);
    free(l->next_token);
    free(l->next_key_marker);
    free(l->next_version_marker);
    free(l->next_upload_marker);
    memset(l, 0, sizeof *l);
}

/* the text of a child of a root named root, malloc'd, or NULL with dv_err() */
static char *root_field(const char *in, size_t len, const char *root, const char *field,
                        bool may_be_empty)
{
    struct s3xml_doc d;
    if (s3xml_parse(in, len, &d) < 0)
        return NULL;
    char *v = NULL;
    const char *t = s3xml_text(&d, 0, field);
    if (strcmp(d.nodes[0].name, "Error") == 0)
        dv_seterr("%s: %s", dv_esc(s3xml_text(&d, 0, "Code") ? s3xml_text(&d, 0, "Code") : "?"),
                  dv_esc(s3xml_text(&d, 0, "Message") ? s3xml_text(&d, 0, "Message") : ""));
    else if (strcmp(d.nodes[0].name, root) != 0)
        dv_seterr("xml: expected <%s>, got <%s>", root, dv_esc(d.nodes[0].name));
    else if (!t || (!*t && !may_be_empty) || strlen(t) > 4096)
        dv_seterr("xml: <%s> without a <%s>", root, field);
    else
        v = dv_strdup(t);
    s3xml_free(&d);
    return v;
}

char *s3xml_upload_id(const char *in, size_t len)
{
    return root_field(in, len, "InitiateMultipartUploadResult", "UploadId", false);
}

char *s3xml_complete_etag(const char *in, size_t len)
{
    char *t = root_field(in, len, "CompleteMultipartUploadResult", "ETag", true);
    char *u = unquote(t);
    free(t);
    return u;
}
