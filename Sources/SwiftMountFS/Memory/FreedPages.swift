import CSystem

/// Reading a directory of many names decodes and frees megabytes of listing pages (a 10,000-name
/// page decodes to about 12 MiB), and the names read so far are held until the reading ends.
/// malloc keeps those freed pages mapped (the trim threshold is high for the data path's sake,
/// and it never releases free pages inside the heap by itself): 12–15 MiB of RSS for nothing
/// after an `ls -l` of 100,000 names. So the end of a large reading hands them back.
public enum FreedPages {
    /// A reading of at least this many names releases memory when it ends: one listing page at
    /// Swift's default `container_listing_limit`. A smaller one frees too little to be worth a
    /// walk of the heap.
    public static let largeReading = 10_000

    /// Called once a reading of `names` names has been let go of.
    public static func releaseAfterReading(names: Int) {
        if names >= largeReading { sm_release_free_pages() }
    }
}
