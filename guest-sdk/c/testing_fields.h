/*
 * testing_fields.h: the test driver's stand-in for the host's field reader
 * (testing_fields.c), used by testing.c. Plugin code never includes it.
 */
#ifndef RILL_TESTING_FIELDS_H
#define RILL_TESTING_FIELDS_H

#include "rill.h"

/** One `[fields]` entry as the manifest declares it. */
typedef struct rill_field_decl {
    char *name;
    /** A dotted path ("system.cpu.total.norm.pct"; a numeric segment
     *  indexes an array) or a JSON Pointer ("/a.b/0"). */
    char *path;
    /** `as = "raw"`: always the JSON text, never a typed scalar. */
    bool raw;
} rill_field_decl;

/** A record's fields as the host would hand them over: `values` (borrowing
 *  from the value's bytes and from `owned`), or `error` when the value is
 *  null or not JSON. */
typedef struct rill_computed_fields {
    rill_field_value *values;
    size_t count;
    /** Unescaped texts the values point into. */
    char **owned;
    size_t owned_count;
    /** Why there are no fields (malloc'd), or NULL. */
    char *error;
} rill_computed_fields;

/** Reads the declared fields out of `value` as the host does. */
void rill_compute_fields(const rill_field_decl *decls, size_t count, rill_bytes value, rill_computed_fields *out);
/** Releases what rill_compute_fields allocated. */
void rill_computed_fields_free(rill_computed_fields *fields);
/** Whether `text` (one JSON value) is what a compact writer writes for it:
 *  raw-json's `canonical` flag. */
bool rill_json_is_canonical(rill_bytes text);

#endif
