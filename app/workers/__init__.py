"""Background work (arq). Every arq import stays in this folder."""
