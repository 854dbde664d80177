"""The six tabs of the GUI page, one module each, in the order a user meets them.

* :mod:`~nwb_dicpop.gui.panels.data`: open a recording and select units, a window or an epoch;
* :mod:`~nwb_dicpop.gui.panels.units`: spike statistics, raster and inter-spike intervals;
* :mod:`~nwb_dicpop.gui.panels.infer`: DICs and populations of every unit;
* :mod:`~nwb_dicpop.gui.panels.population`: one unit's population, members simulated;
* :mod:`~nwb_dicpop.gui.panels.neuromodulation`: before / after comparison, DIC trajectory;
* :mod:`~nwb_dicpop.gui.panels.export`: downloads.

Each panel is a :class:`~nwb_dicpop.gui.common.Panel` built inside its tab by
:class:`~nwb_dicpop.gui.app.Page`; panels talk to each other through the page (``page.infer``,
``page.population``, ...).  None imports the web framework: they use ``page.ui``.
"""
