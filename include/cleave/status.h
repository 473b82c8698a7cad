/*
** cleave/status.h - version, export macro and status codes of the cleave library.
**
** Every cleave function that can fail returns a cleave_status: CLEAVE_OK (0) on success,
** a negative CLEAVE_E* code otherwise.  Released values are never renumbered.
*/
#ifndef CLEAVE_STATUS_H
#define CLEAVE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CLEAVE_API __attribute__((visibility("default")))
#else
#define CLEAVE_API
#endif

/* Version of the header; cleave_version_number() returns the library's.  A program checks
** that both agree (as SQLite's sqlite3_libversion_number does). */
#define CLEAVE_VERSION "0.1.0"
#define CLEAVE_VERSION_NUMBER 1000 /* major * 1000000 + minor * 1000 + patch */

/* X(name, value, message): one list from which the enum and the messages are generated. */
#define CLEAVE_STATUS_MAP(X)                                                                       \
    X(OK, 0, "not an error")                                                                       \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(EIO, -3, "I/O error")                                                                        \
    X(EDB, -4, "store error")                                                                      \
    X(ENUMERIC, -5, "numerical failure while fitting")                                             \
    X(ENOMODEL, -6, "no model for this layer type")                                                \
    X(EPARSE, -7, "malformed input")                                                               \
    X(EUNSUPPORTED, -8, "not supported here")                                                      \
    X(ERANGE, -9, "value out of range")                                                            \
    X(EBACKEND, -10, "execution backend failure")

typedef enum cleave_status {
#define CLEAVE_STATUS_ENUM_(name, value, msg) CLEAVE_##name = value,
    CLEAVE_STATUS_MAP(CLEAVE_STATUS_ENUM_)
#undef CLEAVE_STATUS_ENUM_
        CLEAVE_STATUS_MIN_ = -10
} cleave_status;

/* The library's version string, e.g. "0.1.0"; a static string, never freed. */
CLEAVE_API const char *cleave_version(void);

/* The library's CLEAVE_VERSION_NUMBER. */
CLEAVE_API int cleave_version_number(void);

/* A static, lowercase English message for STATUS ("out of memory");
** "unknown status" for a value that is not a cleave_status. */
CLEAVE_API const char *cleave_strerror(cleave_status status);

/* The symbolic name of STATUS without prefix ("ENOMEM"); "UNKNOWN" if not a status. */
CLEAVE_API const char *cleave_status_name(cleave_status status);

#ifdef __cplusplus
}
#endif
#endif /* CLEAVE_STATUS_H */
