/*
 * file_target.h - the steps the FILE kinds (haproxy:FILE, pkcs12:FILE)
 * share: the one file lives in generations beside it, in
 * DIR/.certkeep-NAME/gen-N/NAME, and FILE is a symlink
 * ".certkeep-NAME/live/NAME", so a deploy switches it with one rename(2)
 * of the live link, a rollback switches back, and the previous file stays
 * on disk (the engine prunes to DEP_GEN_KEEP).  A regular FILE left by
 * another tool is replaced by the link atomically at the first deploy,
 * never deleted first.
 */
#ifndef CK_DEPLOY_FILE_TARGET_H
#define CK_DEPLOY_FILE_TARGET_H

#include "deploy/target.h"

/* The generation root of FILE ("DIR/.certkeep-NAME") into root; *base = NAME inside file. */
enum ck_code dep_file_root(const char *file, char root[DEP_PATH_MAX], const char **base,
			   struct ck_err *err);
/*
 * validate for a FILE target: the generation root passes dep_dir_validate
 * (a real directory or absent under a real, writable directory with room;
 * its live link ours), and FILE is absent, a regular file, or our link.
 * Writes nothing.
 */
enum ck_code dep_file_validate(struct dep_job *job, struct ck_err *err);
/*
 * swap for a FILE target: files holds exactly one file named NAME; writes
 * it as a new generation, switches live, links FILE (once).  Sets gen_root,
 * gen_new, gen_prev, switched.  Rollback is dep_dir_rollback.
 */
enum ck_code dep_file_swap(struct dep_job *job, const struct dep_files *files,
			   struct ck_err *err);
/*
 * render's last step for a FILE target: the bytes of b (a secret buffer,
 * reset here whatever happens) become the one file NAME (0600) of *out.
 */
enum ck_code dep_file_take(const struct dep_job *job, struct ck_buf *b, struct dep_files *out,
			   struct ck_err *err);
/*
 * Refuses a key that lives on a token for a kind that must write it into a
 * file (what names the kind and why: "HAProxy 2.6 in Debian 12 ...").
 */
enum ck_code dep_refuse_token_key(const struct dep_material *m, const char *why,
				  struct ck_err *err);

#endif
