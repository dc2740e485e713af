/*
 * checkpoint/dataset_int.h - test hook of dataset.c.
 *
 * Tests set pt__dataset_hook to change files at a precise moment: it is
 * called with stage 1 after the walk (before any file is hashed) and stage
 * 2 after hashing (before the contents are stored).  NULL in production.
 */
#ifndef PT_DATASET_INT_H
#define PT_DATASET_INT_H

extern void (*pt__dataset_hook)(int stage, void *arg);
extern void *pt__dataset_hook_arg;

#endif
