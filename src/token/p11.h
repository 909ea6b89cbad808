/*
 * p11.h - inside the token module: the open token (struct ck_token) and
 * the helpers its files share (pkcs11.c: loading and reading; session.c:
 * opening by URI, login, fork; sign.c: the token signer; keygen.c: key
 * pairs and certificate objects).  Includes <p11-kit/pkcs11.h>, whose
 * compatibility macros rename words such as "value" and "count": include
 * it last, and never from a header outside src/token/.
 *
 * Must never: keep a PIN, or use a session handle in a process other
 * than the one that opened it (tok_ready).
 */
#ifndef CK_TOKEN_P11_H
#define CK_TOKEN_P11_H

#include <sys/types.h>

#include "token/token.h"
#include "token/token_int.h"

#include <p11-kit/pkcs11.h>

struct ck_token {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	int finalize;             /* this handle is counted on its module (tok_release) */
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	int has_session;
	int rw;                   /* the session is read-write */
	int logged_in;            /* C_Login succeeded on this session's token */
	int login_required;
	pid_t pid;                /* the process that opened the session */
	unsigned generation;      /* bumped when the session is reopened (after fork) */
	char module[CK_TOKEN_MODULE_PATH_MAX + 1];
	char label[CK_TOKEN_LABEL_MAX + 1];
	char serial[17];
};

/* A blank-padded fixed field as a C string (trailing blanks and NULs removed). */
void tok_field(const unsigned char *f, size_t n, char *dst, size_t cap);
/* An attribute of at most max bytes into *val (malloc'd, NUL after; free()).
 * *present = 0 (CK_OK) when the object has none or it is not readable. */
enum ck_code tok_attr(struct ck_token *t, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
		      size_t max, unsigned char **val, size_t *len, int *present,
		      struct ck_err *err);
/* The public key of object o; CK_ERR_UNSUPPORTED for a type this version cannot read. */
enum ck_code tok_obj_pkey(struct ck_token *t, CK_OBJECT_HANDLE o, EVP_PKEY **out,
			  struct ck_err *err);
/*
 * Loads and initialises module path into t (the ownership checks of
 * pkcs11.c), finds the one slot whose token matches label and/or serial
 * (either may be "", not both) and opens a session there, read-write
 * when rw (falling back to read-only on a write-protected token).
 */
enum ck_code tok_open(struct ck_token *t, const char *path, const char *label,
		      const char *serial, int rw, struct ck_err *err);
/*
 * Makes t usable in the calling process: after a fork the child
 * initialises the module again (PKCS#11 2.40 section 5.6: a child must
 * call C_Initialize; sessions of the parent are not the child's), finds
 * the slot again by label and serial and opens a new session; the child
 * is then not logged in (generation bumped).  CK_OK in the opening process.
 */
enum ck_code tok_ready(struct ck_token *t, struct ck_err *err);
/*
 * The objects of class cls whose CKA_ID is id (id_len bytes) or, with
 * id NULL, whose CKA_LABEL is label; at most max handles into objs,
 * *n the number found (CK_ERR_TOO_LARGE past max).
 */
enum ck_code tok_find(struct ck_token *t, CK_OBJECT_CLASS cls, const unsigned char *id,
		      size_t id_len, const char *label, CK_OBJECT_HANDLE *objs, size_t max,
		      size_t *n, struct ck_err *err);

#endif
