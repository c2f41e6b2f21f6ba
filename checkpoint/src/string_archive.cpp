// The out-of-line members of Boost's archive templates, for amber's two
// archives (Boost instantiates them only for its own archives).

#include "amber/checkpoint/string_archive.hpp"

#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_oarchive.ipp>

namespace boost::archive {

template class basic_binary_oarchive<amber::detail::string_oarchive>;
template class basic_binary_iarchive<amber::detail::view_iarchive>;

namespace detail {

template class archive_serializer_map<amber::detail::string_oarchive>;
template class archive_serializer_map<amber::detail::view_iarchive>;

} // namespace detail

} // namespace boost::archive
