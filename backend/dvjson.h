/*
 * dvjson.h - the one owner of JSON in dvault: every JSON producer and reader (manifests, the
 * target identity, archive run records, `--json` outputs) goes through jansson; this module
 * holds what they share, so that no JSON escaping or parsing is written by hand anywhere:
 *
 *  - jansson's allocator (plain malloc/free underneath, installed once before main), with a
 *    per-thread memory budget for reading untrusted text (dvjson_loadb);
 *  - constructors that never fail (out of memory aborts, as dv_malloc does) and turn any C
 *    string into a JSON string: jansson takes only UTF-8, so a byte that is not part of
 *    valid UTF-8 is repaired, as U+FFFD (files dvault writes: manifests) or as the text \xNN
 *    (what an operator reads: --json outputs, like dv_esc);
 *  - dvjson_print: a value as one line of JSON for a terminal (", " and ": " separators, key
 *    order as inserted), with DEL and the C1 controls written as \u00NN escapes too (jansson
 *    escapes only the C0 controls): never a raw byte that drives a terminal, and the reader
 *    still gets the exact text;
 *  - a syntax message that quotes at most a short, escaped excerpt of the text read.
 */
#ifndef DV_DVJSON_H
#define DV_DVJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* A JSON string of s (NULL is ""): invalid UTF-8 bytes each become U+FFFD. */
json_t *dvjson_str(const char *s);
/* The same, but each invalid byte becomes the four characters \xNN (text shown to people). */
json_t *dvjson_text(const char *s);
json_t *dvjson_int(int64_t v);
json_t *dvjson_obj(void);
json_t *dvjson_arr(void);
/* o[key] = v (v's reference is taken; insertion order is kept). */
void dvjson_set(json_t *o, const char *key, json_t *v);
/* Append v to the array a (v's reference is taken). */
void dvjson_append(json_t *a, json_t *v);

/* json_dumps(v, flags), never NULL; the text is plain malloc'd (free()). */
char *dvjson_dumps(const json_t *v, size_t flags);
/* v terminal-safe (above) to f, laid out by json_dumps' flags (0: one line); no newline after
 * it. 0 or -1 (errno). */
int dvjson_print(FILE *f, const json_t *v, size_t flags);

/*
 * json_loadb(text, len, JSON_REJECT_DUPLICATES) with the tree bounded to mem_limit bytes of
 * memory (0: no bound). NULL on failure; then *too_big (may be NULL) tells whether the bound
 * was hit, and je holds jansson's error.
 */
json_t *dvjson_loadb(const char *text, size_t len, size_t mem_limit, json_error_t *je,
                     bool *too_big);
/* jansson's message, with what it quotes of the text cut to a short, escaped excerpt (a file
 * read may be anything: a message never echoes more than 16 of its bytes, never raw). */
void dvjson_syntax_msg(const json_error_t *je, char *out, size_t n);

#endif
