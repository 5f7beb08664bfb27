"""Progress: learner progress, practice-time statistics, missed words, the free-plan quota."""

SERVICE = "progress"
BASE_PORT = 8104
