"""The fetcher: learn of jobs, claim one, verify and merge its chunks, hand
the file to the analysis container, encrypt the result and write it back
under the fencing condition."""
