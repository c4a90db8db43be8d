/* exo-c-kernel: the packet demultiplexer of NET-3, DPF style.
 *
 * NET-3 gives a packet to the owner of the LOWEST installed filter that accepts it. The
 * plain answer runs every filter in slot order. This one merges the filters FLT-9
 * recognizes into one trie of their atoms, as DPF does (Engler and Kaashoek, SIGCOMM
 * '96), and runs bpf_run only on the filters FLT-9 does not recognize. The answer is the
 * same slot; only the cost differs. demux.c explains the structure.
 *
 * The kernel calls it from four places (marked NET-3: demux in kernel.c): kernel_init,
 * kernel_free, op_filter_install (the new slot is inserted) and remove_filter (NET-2:
 * filter_remove, the abort of a filter, env_destroy; the trie is rebuilt at its next use).
 */
#ifndef EXO_DEMUX_H
#define EXO_DEMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kernel;

/* An empty demultiplexer for k's filter slots (k->demux); false when memory ran out. */
bool demux_init(struct kernel *k);

/* Frees k->demux (NULL is fine). */
void demux_free(struct kernel *k);

/* NET-1: slot was just installed (filter_valid, filter_known and filter_df are set). */
void demux_added(struct kernel *k, int64_t slot);

/* NET-2: slot is no longer installed. The trie is rebuilt from the installed filters the
 * next time it is used, once however many filters went (env_destroy removes several). */
void demux_removed(struct kernel *k, int64_t slot);

/* NET-3: the lowest installed slot whose filter accepts the packet (its program returns
 * non-zero, FLT-4), or -1 when none does. Never fails: if memory runs out while the trie
 * is rebuilt, it answers with the plain loop over the slots. */
int64_t demux_classify(struct kernel *k, const uint8_t *pkt, size_t len);

#endif
