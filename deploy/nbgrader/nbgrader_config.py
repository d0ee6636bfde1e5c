"""nbgrader configuration of the freezelab course (nbgrader 0.9.6).

Run nbgrader from this folder (or pass ``--CourseDirectory.root=<copy of it>``):
``source/<assignment>/`` holds the instructor's versions with solution regions
and hidden tests; nbgrader writes ``release/`` (what learners get),
``submitted/<learner>/``, ``autograded/`` and ``feedback/`` next to it, and the
grades into ``gradebook.db``. tests/deploy/test_nbgrader.py runs the round trip
on a copy of this folder.
"""

c = get_config()  # noqa: F821 - nbgrader's config loader defines get_config

c.CourseDirectory.course_id = "freezelab"
# One assignment per lesson, named after it; each holds that lesson's graded exercises.
c.CourseDirectory.assignment_id = ""
# nbgrader's default cell timeout (30 s), stated: every exercise cell runs in a few seconds on
# a 2-core CPU (untrained models, at most two short epochs), so a cell that takes longer hangs.
c.Execute.timeout = 30
# Autograding runs the notebook top to bottom once; a cell that raises costs only its own points.
c.Execute.allow_errors = True
