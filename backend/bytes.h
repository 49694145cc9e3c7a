/*
 * bytes.h - big- and little-endian loads and stores: the one copy of them (on-disk formats
 * are big-endian unless the format says otherwise: SQLite's WAL checksums may be either).
 */
#ifndef DV_BYTES_H
#define DV_BYTES_H

#include <stdint.h>

static inline uint32_t dv_rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t dv_rd64(const unsigned char *p)
{
    return (uint64_t)dv_rd32(p) << 32 | dv_rd32(p + 4);
}

static inline uint32_t dv_rdle32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static inline uint64_t dv_rdle64(const unsigned char *p)
{
    return (uint64_t)dv_rdle32(p + 4) << 32 | dv_rdle32(p);
}

static inline void dv_wrle64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void dv_wr32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static inline void dv_wr64(unsigned char *p, uint64_t v)
{
    dv_wr32(p, (uint32_t)(v >> 32));
    dv_wr32(p + 4, (uint32_t)v);
}

#endif
